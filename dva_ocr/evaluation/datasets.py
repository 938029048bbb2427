"""Labelled OCR data in the common ICDAR layouts, parsed into plain records.

Three layouts (``detect_layout`` tells them apart; ``load_dataset`` reads one):

- ``quad``: one ground-truth file per image (``gt_img_1.txt`` or ``img_1.txt`` for ``img_1.jpg``, beside
  the image or in a ``gt/`` folder), lines ``x1,y1,x2,y2,x3,y3,x4,y4,text`` (ICDAR 2015; the text may hold
  commas);
- ``box``: the same files with ``xmin,ymin,xmax,ymax,"text"`` lines, or the space-separated
  ``xmin ymin xmax ymax "text"`` form (ICDAR 2013);
- ``crops``: a labels file of cropped words or lines, ``image<TAB>text`` or ``word_1.png, "text"``.

Files are UTF-8 with or without a BOM. The text ``###`` marks a don't-care region.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dva_ocr.errors import DvaOcrError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
DONT_CARE = "###"
LAYOUTS = ("auto", "quad", "box", "crops")
GT_FOLDERS = ("gt", "GT", "labels", "annotations")

Point = tuple[float, float]

EXPECTED = (
    "expected either a labels file of crops (lines 'image<TAB>text' or 'word_1.png, \"text\"') beside the "
    "crop images, or images with one ground-truth file each ('gt_img_1.txt' or 'img_1.txt' for 'img_1.jpg', "
    "beside the image or in a gt/ folder) holding 'x1,y1,x2,y2,x3,y3,x4,y4,text' lines (ICDAR 2015) or "
    "'xmin,ymin,xmax,ymax,\"text\"' lines (ICDAR 2013)"
)


class DatasetError(DvaOcrError):
    """Labelled data that cannot be read: the message names the file, the line and what was expected."""


@dataclass(frozen=True)
class GtRegion:
    """One annotated word or line: its 4 corners in image pixels and its text."""

    polygon: tuple[Point, Point, Point, Point]
    text: str

    @property
    def dont_care(self) -> bool:
        return self.text == DONT_CARE


@dataclass(frozen=True)
class ImageSample:
    image: Path
    regions: tuple[GtRegion, ...]


@dataclass(frozen=True)
class CropSample:
    image: Path
    text: str


@dataclass(frozen=True)
class Dataset:
    root: Path
    layout: str  # quad, box or crops
    samples: tuple[ImageSample, ...] = ()  # quad and box
    crops: tuple[CropSample, ...] = ()  # crops
    missing_gt: tuple[Path, ...] = ()  # images found without a ground-truth file (left out)

    def __len__(self) -> int:
        return len(self.crops) if self.layout == "crops" else len(self.samples)


# --- one line -------------------------------------------------------------------------------------------

_NUM = r"[-+]?\d+(?:\.\d+)?"
_SEP = r"\s*[,\s]\s*"  # a comma and/or spaces
_BOX_RE = re.compile(rf"^\s*({_NUM}){_SEP}({_NUM}){_SEP}({_NUM}){_SEP}({_NUM})(?:{_SEP}(.*))?$")
_CROP_ICDAR_RE = re.compile(r'^\s*([^,\t"]+?)\s*,\s*(".*")\s*$')


def unquote(text: str) -> str:
    """``"text"`` -> ``text`` (with ``\\"`` and ``\\\\`` unescaped); anything else is returned stripped."""
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return re.sub(r'\\(["\\])', r"\1", text[1:-1])
    return text


def parse_quad_line(line: str) -> GtRegion:
    """``x1,y1,x2,y2,x3,y3,x4,y4,text``; the text is everything after the 8th comma, commas included."""
    parts = line.rstrip("\r\n").split(",", 8)
    if len(parts) < 8:
        raise ValueError("expected 'x1,y1,x2,y2,x3,y3,x4,y4,text'")
    try:
        xy = [float(p) for p in parts[:8]]
    except ValueError:
        raise ValueError("expected 8 numbers 'x1,y1,x2,y2,x3,y3,x4,y4' before the text") from None
    text = parts[8].strip() if len(parts) == 9 else ""
    corners = ((xy[0], xy[1]), (xy[2], xy[3]), (xy[4], xy[5]), (xy[6], xy[7]))
    return GtRegion(corners, text)


def parse_box_line(line: str) -> GtRegion:
    """``xmin,ymin,xmax,ymax,"text"`` or ``xmin ymin xmax ymax "text"`` (quotes optional)."""
    m = _BOX_RE.match(line.rstrip("\r\n"))
    if m and m.group(5) and _looks_quad(line):
        raise ValueError("this is an 'x1,y1,...,x4,y4,text' (quad) line, not an axis-aligned box")
    if not m:
        raise ValueError("expected 'xmin,ymin,xmax,ymax,\"text\"' or 'xmin ymin xmax ymax \"text\"'")
    x0, y0, x1, y1 = (float(v) for v in m.groups()[:4])
    if x1 < x0 or y1 < y0:
        raise ValueError(f"xmax/ymax smaller than xmin/ymin: {x0:g},{y0:g},{x1:g},{y1:g}")
    return GtRegion(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), unquote(m.group(5) or ""))


def _looks_quad(line: str) -> bool:
    try:
        parse_quad_line(line)
    except ValueError:
        return False
    return True


def parse_crop_line(line: str) -> tuple[str, str]:
    """``image<TAB>text`` or ICDAR's ``word_1.png, "text"`` -> (image, text)."""
    line = line.rstrip("\r\n")
    if "\t" in line:
        name, text = line.split("\t", 1)
        return name.strip(), text.strip()
    m = _CROP_ICDAR_RE.match(line)
    if not m:
        raise ValueError("expected 'image<TAB>text' or 'word_1.png, \"text\"'")
    return m.group(1), unquote(m.group(2))


def line_layout(line: str) -> str | None:
    """Which detection layout one gt line is in: ``quad``, ``box`` or None."""
    try:
        parse_quad_line(line)
        return "quad"
    except ValueError:
        pass
    try:
        parse_box_line(line)
        return "box"
    except ValueError:
        return None


# --- files ----------------------------------------------------------------------------------------------


def read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, line) of the non-blank lines of a UTF-8 file, BOM dropped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc})") from exc
    return [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def parse_gt_file(path: Path, layout: str) -> tuple[GtRegion, ...]:
    parse = {"quad": parse_quad_line, "box": parse_box_line}[layout]
    out = []
    for n, line in read_lines(path):
        try:
            out.append(parse(line))
        except ValueError as exc:
            raise DatasetError(f"{path}:{n}: {exc} ({layout} layout), got {line.strip()[:80]!r}") from exc
    return tuple(out)


def parse_crop_labels(path: Path) -> tuple[CropSample, ...]:
    """A crops labels file; image names are relative to the file's folder and must exist."""
    out = []
    for n, line in read_lines(path):
        try:
            name, text = parse_crop_line(line)
        except ValueError as exc:
            raise DatasetError(f"{path}:{n}: {exc}, got {line.strip()[:80]!r}") from exc
        image = path.parent / name
        if not image.is_file():
            raise DatasetError(f"{path}:{n}: image {name!r} not found in {path.parent}")
        out.append(CropSample(image, text))
    return tuple(out)


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(path))]


def _is_crop_labels(path: Path) -> bool:
    """Whether the first line of ``path`` reads as a crops label naming an existing image beside it."""
    try:
        lines = read_lines(path)
    except DatasetError:
        return False
    if not lines:
        return False
    try:
        name, _ = parse_crop_line(lines[0][1])
    except ValueError:
        return False
    return Path(name).suffix.lower() in IMAGE_SUFFIXES and (path.parent / name).is_file()


def find_crop_labels(root: Path) -> list[Path]:
    """Labels files of crops directly in ``root``."""
    return sorted(p for p in root.glob("*.txt") if p.is_file() and _is_crop_labels(p))


def find_gt_file(image: Path, root: Path, index: dict[str, list[Path]] | None = None) -> Path | None:
    """The ground-truth file of ``image``: ``gt_<stem>.txt`` or ``<stem>.txt``, beside the image, in a
    ``gt/`` folder beside it or under the dataset root; else the only file of that name anywhere under
    the root (``index``: name -> paths of the root's .txt files), as in ICDAR 2015's own download, where
    ``ch4_test_images/`` and ``Challenge4_Test_Task1_GT/`` are sibling folders."""
    names = (f"gt_{image.stem}.txt", f"{image.stem}.txt")
    folders = [image.parent, *(image.parent / g for g in GT_FOLDERS), *(root / g for g in GT_FOLDERS), root]
    for folder in dict.fromkeys(folders):
        for name in names:
            if (folder / name).is_file():
                return folder / name
    if index is None:
        index = _txt_index(root)
    for name in names:
        if len(index.get(name, ())) == 1:
            return index[name][0]
    return None


def _txt_index(root: Path) -> dict[str, list[Path]]:
    index: dict[str, list[Path]] = {}
    for path in root.rglob("*.txt"):
        index.setdefault(path.name, []).append(path)
    return index


def find_images(root: Path) -> list[Path]:
    return sorted(
        (p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()), key=_natural_key
    )


def _gt_pairs(root: Path) -> tuple[list[tuple[Path, Path]], list[Path]]:
    pairs, missing = [], []
    index = _txt_index(root)
    for image in find_images(root):
        gt = find_gt_file(image, root, index)
        if gt is None:
            missing.append(image)
        else:
            pairs.append((image, gt))
    return pairs, missing


def _detect_gt_layout(gt_files: Iterable[Path]) -> str | None:
    for path in gt_files:
        for n, line in read_lines(path):
            layout = line_layout(line)
            if layout is None:
                raise DatasetError(
                    f"{path}:{n}: not a ground-truth line: expected 'x1,y1,x2,y2,x3,y3,x4,y4,text' or "
                    f"'xmin,ymin,xmax,ymax,\"text\"', got {line.strip()[:80]!r}"
                )
            return layout
    return None


def detect_layout(root: Path) -> str:
    """``quad``, ``box`` or ``crops`` for a dataset folder (or a crops labels file); DatasetError if none."""
    if root.is_file():
        if _is_crop_labels(root):
            return "crops"
        raise DatasetError(f"{root}: not a labels file of crops; {EXPECTED}")
    if not root.is_dir():
        raise DatasetError(f"{root}: no such file or folder")
    if find_crop_labels(root):
        return "crops"
    pairs, _ = _gt_pairs(root)
    if not pairs:
        raise DatasetError(f"no labelled data found in {root}: {EXPECTED}")
    # every gt file may be empty (images without text): then the layout does not matter
    return _detect_gt_layout(gt for _, gt in pairs) or "quad"


def load_dataset(root: Path, layout: str = "auto", limit: int | None = None) -> Dataset:
    """Read a dataset folder (or, for crops, a labels file) in ``layout`` (``auto``: detect it).

    ``limit``: only the first N images or crops (in natural file-name order, labels-file order for crops).
    """
    root = Path(root)
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    if layout == "auto":
        layout = detect_layout(root)
    if layout == "crops":
        return _load_crops(root, limit)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder; the {layout} layout is images with one gt file each")
    pairs, missing = _gt_pairs(root)
    if not pairs:
        raise DatasetError(f"no images with ground-truth files found in {root}: {EXPECTED}")
    if limit is not None:
        pairs = pairs[: max(0, limit)]
    samples = tuple(ImageSample(image, parse_gt_file(gt, layout)) for image, gt in pairs)
    return Dataset(root, layout, samples=samples, missing_gt=tuple(missing))


def _load_crops(root: Path, limit: int | None) -> Dataset:
    if root.is_file():
        files: Sequence[Path] = [root]
    else:
        files = find_crop_labels(root)
        if not files:
            raise DatasetError(f"no labels file of crops found in {root}: {EXPECTED}")
        if len(files) > 1:
            names = ", ".join(p.name for p in files)
            raise DatasetError(f"several labels files in {root} ({names}): pass the one to evaluate")
    crops = parse_crop_labels(files[0])
    if limit is not None:
        crops = crops[: max(0, limit)]
    return Dataset(root, "crops", crops=crops)
