"""Search at a million rows: latency of ``dva_ocr.search.search`` per kind of query, level and load.

    python bench/bench_search.py --out build/bench/search.json [--regions 1000000] [--reload]
        [--concurrent-seconds 30] [--clients 8] [--database-url URL] [--queries 20] [--kinds a,b]

Data: its own database (``dva_bench_search`` on DATABASE_URL's server, or ``--database-url``), brought
to Alembic's head. ``--regions N`` regions (default 1,000,000) in about N/500 media items (5% images:
one frame, a few lines), frames at 1 fps (``time_s`` = index), text tracks about 0.3 N: each spans 1-10
consecutive frames of one video and has one region per frame. Lines are 1-8 words drawn from a Zipf
distribution (exponent 1.1) over ``english_words(30000)`` in mixed casing, with names, numbers, prices,
dates, times (``00:12:31``), codes (``A7X-2231``) mixed in, 5% Chinese or Japanese lines and, in 8% of
the Latin lines, one OCR corruption kept for the whole track: a word split (``Suke hiro``), two words
glued (``groceryshopping``), a misread the recogniser makes (``l``/``I``/``1``, ``o``/``0``, ``s``/``5``,
``b``/``8``, ``m``/``rn``, ``w``/``vv``) or a dropped or swapped letter. Another 4% of single readings
(regions) carry a corruption of their own. ``raw_text`` is the text with some of its spaces gone, as the
recogniser decodes it (``text_tracks.raw_text`` is filled when the column exists). Confidences are
0.5-1.0, skewed high. Everything comes from one seed: the same data and queries on every run.

Loading: COPY (psycopg ``write_row``) in chunks of media items, the non-constraint indexes of regions
and text_tracks dropped before and built after (their definitions kept in ``bench_meta`` until then),
then ``VACUUM (ANALYZE)``. Generated columns and triggers are left to PostgreSQL. ``bench_meta`` records
the generator version, seed, scale and Alembic head: when they match a complete earlier load the data
is reused; otherwise every table but ``alembic_version`` and ``bench_meta`` is truncated (RESTART
IDENTITY CASCADE) and loaded again (``--reload`` forces it; ``--recreate`` drops the database first).

Queries (``--queries`` distinct strings per kind, default 20), chosen from the generated data with the
text they are meant to find: ``common`` (the most frequent words that are not stopwords, from Zipf rank
5), ``rare`` (words on 5-50 tracks), ``and`` (two words of one line), ``phrase`` (two adjacent words, in
quotes), ``or`` (``a OR b``), ``not`` (``a -b``, b from a line with a), ``typo`` (one edit of a word of
Zipf rank 200-3000, length >= 5), ``typo2`` (two words of one line, one edit each), ``compact`` (the
glued form of a planted split or the two words of a planted glue), ``folded`` (the clean form of a
planted misread), ``code`` (the 4 digits of a planted code), ``cjk`` (two CJK characters of a planted
line), ``stopwords`` (``the``, ``of the`` ...), ``no_match`` (random letters), ``filter_media`` /
``filter_confidence`` (0.9) / ``filter_time`` (10-60 s) each with a common word, ``page1`` (limit 50) and
``page_deep`` (offset 1000). ``found``: the share of a kind's queries whose first page holds a hit with
the planted text (and, for filters, whose hits all obey the filter; for ``not``, none with the excluded
word).

Timing: each query at both levels (``tracks``, ``regions``): once to warm up, then once timed,
``time.perf_counter()`` around the ``search(...)`` call alone, each call in its own transaction (rolled
back after). Sessions run with ``statement_timeout`` (``--timeout-ms``, 10 s): a query cancelled by it
is recorded as an error with its time. A query whose warm-up is cancelled is not run again (the warm-up
counts as its timed run), and after ``--max-timeouts`` cancellations a (kind, level) skips its remaining
queries, so that a pathological plan costs minutes, not hours. A rejected query (``SearchError``) counts
as ``rejected`` with its time. Then ``--clients`` threads (8), each with its own connection and Session,
run every (kind, level, query) in their own shuffled order for ``--concurrent-seconds``.

Goals: p95 <= 50 ms for the full-text kinds, <= 200 ms for the fuzzy ones (typo, typo2, compact, folded,
cjk, stopwords, no_match), at each level alone; p95 <= 200 ms for every kind with 8 clients; no call
over 1 s anywhere (a cancelled or skipped query fails this one).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import math
import os
import platform
import random
import re
import string
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import psycopg  # noqa: E402
from sqlalchemy import Engine, create_engine  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.exc import DBAPIError  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

GENERATOR_VERSION = "2"  # the data and the choice of queries
SEED = 20261202
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/dva_bench_search"
CHUNK_MEDIA = 50  # media items per COPY round (one transaction)
QUERIES_STORED = 20  # query strings chosen per kind at load time (bench_meta keeps them)

FULLTEXT_KINDS = (
    "common", "rare", "and", "phrase", "or", "not", "code",
    "filter_media", "filter_confidence", "filter_time", "page1", "page_deep",
)  # fmt: skip
FUZZY_KINDS = ("typo", "typo2", "compact", "folded", "cjk", "stopwords", "no_match")
KINDS = (
    "common", "rare", "and", "phrase", "or", "not", "typo", "typo2", "compact", "folded", "code", "cjk",
    "stopwords", "no_match", "filter_media", "filter_confidence", "filter_time", "page1", "page_deep",
)  # fmt: skip
LEVELS = ("tracks", "regions")
GOAL_FULLTEXT_MS = 50.0
GOAL_FUZZY_MS = 200.0
GOAL_CONCURRENT_MS = 200.0
GOAL_MAX_MS = 1000.0

STOPWORD_QUERIES = [
    "the", "of the", "and", "to the", "in the", "a", "is", "for the", "on the", "at", "it is", "this",
    "with the", "from", "by the", "as", "be", "was", "to be", "of",
]  # fmt: skip


def _split(words: str) -> list[str]:
    return words.split()


FIRST_NAMES = _split("""James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara
Richard Susan Joseph Jessica Thomas Sarah Charles Karen Maria Jose Juan Ana Luis Carlos Sofia Hiroshi Yuki
Sukehiro Takeshi Haruki Kenji Akira Naoko Mei Wei Ming Priya Arjun Ravi Fatima Ahmed Omar Olga Ivan
Dmitri Ingrid Lars Sven Pierre Claire Hans Greta Giulia Marco Lucia Amara Kwame Chiara Mateo Noor Elif
""")
LAST_NAMES = _split("""Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez
Lopez Gonzalez Wilson Anderson Taylor Moore Jackson Martin Tanaka Suzuki Watanabe Takahashi Yamamoto Nakamura
Kobayashi Sato Wang Zhang Liu Chen Yang Huang Zhao Kim Park Nguyen Tran Patel Sharma Singh Khan Ali
Ivanov Petrov Muller Schmidt Schneider Fischer Dubois Moreau Rossi Russo Ferrari Silva Santos Oliveira
Andersson Nilsson Okafor Mensah Yilmaz Kowalski Novak Horvat
""")


# Common Chinese words (simplified) and Japanese words (kanji and kana), roughly by frequency.
CHINESE_WORDS = _split("""的 是 中国 我们 他们 时间 今天 明天 昨天 工作 学习 学生 老师 公司 市场 经济 发展
社会 文化 历史 电话 手机 电脑 网络 新闻 天气 温度 价格 优惠 销售 商品 超市 银行
医院 学校 大学 地铁 车站 机场 出口 入口 注意 安全 禁止 吸烟 停车 欢迎 光临 谢谢
你好 再见 开始 结束 会议 报告 数据 系统 服务 客户 产品 质量 管理 技术 科学 研究
教育 健康 运动 音乐 电影 视频 图片 文字 识别 搜索 结果 问题 答案 方法 城市 国家
世界 人民 政府 政策 环境 能源 交通 道路 汽车 火车 飞机 酒店 餐厅 菜单 早餐 午餐
晚餐 咖啡 茶叶 水果 蔬菜 牛奶 面包 米饭 饺子 星期 月份 年度 免费 打折 特价 新品
热卖 限时 活动 会员 积分 购物 支付 现金 信用卡 营业 营业时间 联系 地址 电子 邮件
网站 下载 上传 登录 注册 密码 用户 帮助 设置 首页 更多 返回 确定 取消 提交 保存
删除 编辑 打印 分享 评论 关注 直播 节目 频道 新年 快乐 春节 中秋 生日 朋友 家庭
孩子 父母 生活 幸福 希望 未来 梦想 成功 努力 经验 知识 能力 机会 选择 决定 计划
目标 项目 团队 合作 办公室 总经理 董事长 员工 招聘 工资 北京 上海 广州 深圳 香港
台北 长江 黄河 人工智能 机器学习 大数据 云计算 第一 第二 第三 全部 最新 热门 推荐
排行榜 价格表 说明 使用 方式 请勿 小心 地滑 高温 危险 紧急 电梯 楼梯 卫生间 厕所
男 女 售票处 候车室 检票口 站台 列车 高铁 公交 出租车 停车场
""")
JAPANESE_WORDS = _split("""東京 大阪 京都 日本 駅 出口 入口 改札 電車 新幹線 地下鉄 乗り換え ホーム 番線
時刻表 営業中 準備中 本日 休業 年中無休 営業時間 お知らせ ご注意 危険 立入禁止 禁煙
喫煙所 トイレ お手洗い エレベーター エスカレーター 階段 非常口 案内 受付 会計 レジ
お会計 税込 税抜 割引 半額 特売 新発売 限定 人気 おすすめ ランチ ディナー メニュー
ラーメン 寿司 天ぷら うどん そば 定食 弁当 コーヒー 紅茶 緑茶 ビール 日本酒
いらっしゃいませ ありがとうございます こんにちは おはようございます こんばんは すみません
東京駅 渋谷 新宿 池袋 品川 上野 秋葉原 横浜 名古屋 福岡 札幌 沖縄 北海道 天気予報
晴れ 曇り 雨 雪 気温 ニュース 速報 番組 放送 会議室 資料 説明会 申込 締切 予約
満席 空席 整理券 駐車場 自転車 郵便局 病院 薬局 銀行 コンビニ 百貨店 商店街 図書館
美術館 博物館 公園 神社 お寺 温泉 旅館 ホテル 観光 地図 現在地 北口 南口 東口 西口
中央口 快速 各駅停車 終電 始発 遅延 運転見合わせ
""")

# One-character misreads the recogniser makes that search's fold undoes (clean -> misread).
MISREADS = (
    ("l", "I"), ("l", "1"), ("i", "l"), ("o", "0"), ("O", "0"), ("s", "5"), ("S", "5"), ("b", "8"),
    ("B", "8"), ("m", "rn"), ("rn", "m"), ("w", "vv"),
)  # fmt: skip
CORRUPTIONS = ("split", "glue", "misread", "letter")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the generator ---------------------------------------------------------------------------------

_CJK_RE = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_WORD_RE = re.compile(r"[a-z]+")


@dataclass
class Truth:
    """What the generator planted, for choosing queries: word counts over tracks, sample lines, the
    corruptions, codes and CJK lines, and the media items."""

    counts: Counter[str] = field(default_factory=Counter)  # lowercase words, per track line
    samples: list[list[str]] = field(default_factory=list)  # lowercase words of some clean Latin lines
    sample_media: list[int] = field(default_factory=list)  # the media item of each sample line
    plants: list[dict[str, Any]] = field(default_factory=list)  # {"kind", "clean", "corrupt", "track"}
    codes: list[str] = field(default_factory=list)
    numbers: Counter[str] = field(default_factory=Counter)  # digit runs, per track line
    cjk_lines: list[str] = field(default_factory=list)
    videos: list[tuple[int, int]] = field(default_factory=list)  # (id, frames)


class LineMaker:
    """Lines of text as a recogniser returns them from video frames, with what was planted in them."""

    def __init__(self, rng: random.Random, words: Sequence[str], truth: Truth) -> None:
        self.rng = rng
        self.words = list(words)
        self.cum = list(_cumulative([1.0 / (r + 1) ** 1.1 for r in range(len(words))]))
        self.zh_cum = list(_cumulative([1.0 / (r + 1) for r in range(len(CHINESE_WORDS))]))
        self.ja_cum = list(_cumulative([1.0 / (r + 1) for r in range(len(JAPANESE_WORDS))]))
        self.truth = truth

    def line(self, track_id: int, media_id: int) -> str:
        """A track's text; corruptions and codes in it go to the truth."""
        rng = self.rng
        if rng.random() < 0.05:
            text = self._cjk()
            self.truth.cjk_lines.append(text)
            return text
        tokens, plain = self._latin()
        if rng.random() < 0.08:
            plant = self._corrupt(tokens)
            if plant is not None:
                plant["track"] = track_id
                self.truth.plants.append(plant)
                plain = False
        text = " ".join(tokens)
        words = _WORD_RE.findall(text.lower())
        self.truth.counts.update(words)
        self.truth.numbers.update(re.findall(r"\d+", text))
        if plain and rng.random() < 0.05:
            self.truth.samples.append(words)
            self.truth.sample_media.append(media_id)
        return text

    def reading(self, text: str) -> str:
        """One frame's reading of a track's text: mostly the same, sometimes corrupted on its own."""
        if self.rng.random() >= 0.04 or _CJK_RE.search(text):
            return text
        tokens = text.split(" ")
        self._corrupt(tokens)
        return " ".join(tokens)

    def raw(self, text: str) -> str:
        """The recogniser's string before word spacing: some or all spaces gone, or the text itself."""
        rng = self.rng
        if _CJK_RE.search(text):
            return text.replace(" ", "")
        if " " not in text or rng.random() < 0.5:
            return text
        keep = rng.random() * 0.6
        return "".join(c for c in text if c != " " or rng.random() < keep)

    # -- pieces

    def _latin(self) -> tuple[list[str], bool]:
        rng = self.rng
        n = rng.choices(range(1, 9), weights=(10, 18, 18, 16, 13, 10, 8, 7))[0]
        tokens = rng.choices(self.words, cum_weights=self.cum, k=n)
        case = rng.random()
        if case < 0.35:
            tokens[0] = tokens[0].capitalize()
        elif case < 0.55:
            tokens = [t.capitalize() for t in tokens]
        elif case < 0.65:
            tokens = [t.upper() for t in tokens]
        r = rng.random()
        plain = True
        if r < 0.08:
            name = [rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)]
            if rng.random() < 0.3:
                name = name[1:]
            at = rng.randint(0, len(tokens))
            tokens[at:at] = name
        elif r < 0.30:
            tokens.insert(rng.randint(0, len(tokens)), self._special())
            plain = False
        return tokens, plain

    def _special(self) -> str:
        rng = self.rng
        kind = rng.choices(
            ("number", "price", "date", "time", "code", "percent", "phone"), (4, 4, 3, 3, 3, 1, 1)
        )[0]
        if kind == "number":
            return str(rng.randint(1, 9999)) if rng.random() < 0.7 else f"{rng.uniform(0, 999):.1f}"
        if kind == "price":
            cents = rng.randint(0, 99)
            whole = rng.choice((rng.randint(1, 20), rng.randint(1, 500)))
            fmt = rng.choice(("${w}.{c:02d}", "€{w},{c:02d}", "£{w}.{c:02d}", "{w}.{c:02d} USD", "¥{w}00"))
            return fmt.format(w=whole, c=cents)
        if kind == "date":
            y, m, d = rng.randint(1995, 2026), rng.randint(1, 12), rng.randint(1, 28)
            month = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")[
                m - 1
            ]
            return rng.choice((f"{y}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y}", f"{month} {d} {y}"))
        if kind == "time":
            h, m, s = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
            return rng.choice((f"{h:02d}:{m:02d}:{s:02d}", f"00:{m:02d}:{s:02d}", f"{h}:{m:02d}"))
        if kind == "code":
            letters = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(1, 2)))
            head = letters + rng.choice(string.digits) + rng.choice(string.ascii_uppercase)
            code = (
                f"{head}-{rng.randint(0, 9999):04d}"
                if rng.random() < 0.8
                else f"{head}-{rng.randint(100, 999)}"
            )
            self.truth.codes.append(code)
            return code
        if kind == "percent":
            return f"{rng.randint(1, 99)}%"
        return f"{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"

    def _cjk(self) -> str:
        rng = self.rng
        if rng.random() < 0.6:
            words, cum = CHINESE_WORDS, self.zh_cum
        else:
            words, cum = JAPANESE_WORDS, self.ja_cum
        parts = rng.choices(words, cum_weights=cum, k=rng.randint(1, 4))
        text = "".join(parts) if rng.random() < 0.7 else " ".join(parts)
        r = rng.random()
        if r < 0.1:
            text += (
                f" {rng.randint(1, 99)},{rng.randint(0, 999):03d}円"
                if words is JAPANESE_WORDS
                else " 9:00-21:00"
            )
        elif r < 0.2:
            text += f" {rng.randint(1, 12)}月{rng.randint(1, 28)}日"
        return text

    def _corrupt(self, tokens: list[str]) -> dict[str, Any] | None:
        """One OCR corruption of ``tokens`` in place; what was planted, or None when none fits."""
        rng = self.rng
        kind = rng.choice(CORRUPTIONS)
        alpha = [i for i, t in enumerate(tokens) if t.isalpha() and t.isascii()]
        if kind == "glue":
            pairs = [
                i for i in alpha if i + 1 < len(tokens) and tokens[i + 1].isalpha() and len(tokens[i]) > 2
            ]
            pairs = [i for i in pairs if len(tokens[i + 1]) > 2]
            if not pairs:
                return None
            i = rng.choice(pairs)
            clean = f"{tokens[i]} {tokens[i + 1]}"
            tokens[i : i + 2] = [tokens[i] + tokens[i + 1]]
            return {"kind": "glue", "clean": clean, "corrupt": tokens[i]}
        if kind == "split":
            cands = [i for i in alpha if len(tokens[i]) >= 6]
            if not cands:
                return None
            i = rng.choice(cands)
            word = tokens[i]
            at = rng.randint(2, len(word) - 2)
            tokens[i] = f"{word[:at]} {word[at:]}"
            return {"kind": "split", "clean": word, "corrupt": tokens[i]}
        if kind == "misread":
            swaps = [(i, c, m) for i in alpha for c, m in MISREADS if c in tokens[i] and len(tokens[i]) >= 4]
            if not swaps:
                return None
            i, c, m = rng.choice(swaps)
            word = tokens[i]
            at = rng.choice([x.start() for x in re.finditer(re.escape(c), word)])
            tokens[i] = word[:at] + m + word[at + len(c) :]
            return {"kind": "misread", "clean": word, "corrupt": tokens[i]}
        cands = [i for i in alpha if len(tokens[i]) >= 5]
        if not cands:
            return None
        i = rng.choice(cands)
        word = tokens[i]
        at = rng.randint(1, len(word) - 2)
        if rng.random() < 0.5:
            tokens[i] = word[:at] + word[at + 1 :]
        else:
            tokens[i] = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        if tokens[i] == word:
            return None
        return {"kind": "letter", "clean": word, "corrupt": tokens[i]}


def _cumulative(weights: Iterable[float]) -> Iterable[float]:
    total = 0.0
    for w in weights:
        total += w
        yield total


def _confidence(rng: random.Random, corrupted: bool) -> float:
    b = rng.betavariate(2.0, 2.0) if corrupted else rng.betavariate(4.0, 1.0)
    return round(0.5 + 0.5 * b, 4)


@dataclass
class Chunk:
    frames: list[tuple[Any, ...]] = field(default_factory=list)
    tracks: list[tuple[Any, ...]] = field(default_factory=list)
    regions: list[tuple[Any, ...]] = field(default_factory=list)
    videos: list[tuple[Any, ...]] = field(default_factory=list)


SPANS = (1, 2, 3, 4, 5, 6, 8, 10)
SPAN_WEIGHTS = (25, 21, 16, 12, 9, 7, 6, 4)  # mean 3.4 frames: tracks ~0.3 x regions

VIDEO_COLS = (
    "id", "source_name", "path", "sha256", "media_type", "size_bytes", "duration", "fps", "width", "height",
    "sample_fps", "model_version_id", "status", "extracted", "frames_total", "frames_extracted",
    "frames_ocr", "regions_count", "tracks_count", "started_at", "finished_at",
)  # fmt: skip
FRAME_COLS = ("id", "video_id", "index", "time_s", "path", "width", "height")
TRACK_COLS = (
    "id", "video_id", "model_version_id", "text", "start_s", "end_s", "confidence", "agreement",
    "readings", "best_frame_id", "boxes", "x", "y", "w", "h", "raw_text",
)  # fmt: skip
REGION_COLS = (
    "id", "frame_id", "video_id", "model_version_id", "polygon", "x", "y", "w", "h", "text", "raw_text",
    "confidence", "time_s",
)  # fmt: skip


def generate(regions_target: int, seed: int, truth: Truth) -> Iterable[Chunk]:
    """The media items, frames, tracks and regions, ``CHUNK_MEDIA`` media items at a time."""
    from dva_ocr.ocr.training.synth import english_words

    rng = random.Random(seed)
    maker = LineMaker(rng, english_words(30000), truth)
    n_media = max(1, round(regions_target / 500))
    per_video = regions_target / n_media
    frame_id = track_id = region_id = 0
    chunk = Chunk()
    for vid in range(1, n_media + 1):
        image = rng.random() < 0.05
        width, height = rng.choices(((1280, 720), (1920, 1080), (640, 360)), (70, 25, 5))[0]
        n_frames = 1 if image else rng.randint(60, 600)
        budget = rng.randint(3, 30) if image else max(1, round(per_video * rng.uniform(0.4, 1.6)))
        base = frame_id + 1
        for i in range(n_frames):
            frame_id += 1
            chunk.frames.append(
                (frame_id, vid, i, float(i), f"var/media/bench/{vid}/{i:06d}.jpg", width, height)
            )
        v_regions = v_tracks = 0
        while v_regions < budget:
            span = 1 if image else min(n_frames, rng.choices(SPANS, SPAN_WEIGHTS)[0])
            start = rng.randint(0, n_frames - span)
            track_id += 1
            v_tracks += 1
            n_plants = len(truth.plants)
            text = maker.line(track_id, vid)
            corrupted = len(truth.plants) > n_plants
            conf = _confidence(rng, corrupted)
            h = max(10, round(rng.uniform(14, 64) * height / 720))
            w = min(width - 2, round(len(text) * h * rng.uniform(0.45, 0.65)) + 4)
            x, y = rng.randint(0, width - w), rng.randint(0, height - h)
            boxes, confs, same = [], [], 0
            best = start + span // 2
            best_raw = text
            for k in range(start, start + span):
                region_id += 1
                v_regions += 1
                bx, by = max(0, x + rng.randint(-2, 2)), max(0, y + rng.randint(-2, 2))
                reading = maker.reading(text)
                same += reading == text
                raw = maker.raw(reading)
                rc = round(min(1.0, max(0.5, conf + rng.uniform(-0.05, 0.05))), 4)
                confs.append(rc)
                poly = json.dumps([[bx, by], [bx + w, by], [bx + w, by + h], [bx, by + h]])
                chunk.regions.append(
                    (region_id, base + k, vid, 1, poly, bx, by, w, h, reading, raw, rc, float(k))
                )
                boxes.append({"t": float(k), "frame": k, "box": [bx, by, w, h]})
                if k == best:
                    best_raw = raw if reading == text else maker.raw(text)
            end = float(start) if image else float(start + span)
            chunk.tracks.append(
                (
                    track_id, vid, 1, text, float(start), end, round(sum(confs) / len(confs), 4),
                    round(same / span, 4), span, base + best, json.dumps(boxes), x, y, w, h, best_raw,
                )
            )  # fmt: skip
        truth.videos.append((vid, n_frames))
        digest = hashlib.sha256(f"dva-bench-search-{seed}-{vid}".encode()).hexdigest()
        ext = "jpg" if image else "mp4"
        name = (
            f"{rng.choice(('lecture', 'news', 'street', 'store', 'slides', 'sign', 'match'))}_{vid:05d}.{ext}"
        )
        chunk.videos.append(
            (
                vid, name, f"var/media/bench/{vid}/{name}", digest, "image" if image else "video",
                rng.randint(10**5, 10**9), float(n_frames), None if image else 25.0, width, height, 1.0,
                1, "done", True, n_frames, n_frames, n_frames, v_regions, v_tracks,
                "2026-12-01 10:00:00+00", "2026-12-01 10:05:00+00",
            )
        )  # fmt: skip
        if vid % CHUNK_MEDIA == 0 or vid == n_media:
            yield chunk
            chunk = Chunk()


# --- the database ----------------------------------------------------------------------------------


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def alembic_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_current_head()
    return head or ""


def read_meta(conn: psycopg.Connection[Any]) -> dict[str, str]:
    conn.execute("CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value text)")
    return {k: v for k, v in conn.execute("SELECT key, value FROM bench_meta").fetchall()}


def write_meta(conn: psycopg.Connection[Any], values: dict[str, str]) -> None:
    for k, v in values.items():
        conn.execute(
            "INSERT INTO bench_meta (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (k, v),
        )


def truncate_all(conn: psycopg.Connection[Any]) -> None:
    """Empty every table but Alembic's and ours: the data tables and whatever triggers fill from them."""
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename NOT IN ('alembic_version', 'bench_meta') ORDER BY tablename"
        ).fetchall()
    ]
    if tables:
        names = ", ".join(f'"{t}"' for t in tables)
        conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    conn.execute("DELETE FROM bench_meta WHERE key <> 'dropped_indexes'")


def restore_indexes(conn: psycopg.Connection[Any]) -> None:
    """Build the indexes an interrupted load dropped (their definitions are kept in bench_meta)."""
    row = conn.execute("SELECT value FROM bench_meta WHERE key = 'dropped_indexes'").fetchone()
    if row is None:
        return
    for name, definition in json.loads(row[0]):
        if conn.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", (name,)).fetchone() is None:
            log(f"restoring index {name}")
            conn.execute(definition)
    conn.execute("DELETE FROM bench_meta WHERE key = 'dropped_indexes'")


def drop_indexes(conn: psycopg.Connection[Any], tables: Sequence[str]) -> list[tuple[str, str]]:
    """Drop the non-constraint indexes of ``tables`` (recorded first): built once after the load, not
    row by row."""
    rows = conn.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " JOIN pg_class t ON t.oid = x.indrelid"
        " WHERE t.relname = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)"
        " ORDER BY i.relname",
        (list(tables),),
    ).fetchall()
    dropped = [(r[0], r[1]) for r in rows]
    write_meta(conn, {"dropped_indexes": json.dumps(dropped)})
    for name, _ in dropped:
        conn.execute(f'DROP INDEX "{name}"')
    return dropped


def columns(conn: psycopg.Connection[Any], table: str) -> set[str]:
    """The columns of ``table`` that can be written (generated ones left out)."""
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND table_name = %s AND is_generated = 'NEVER'",
        (table,),
    ).fetchall()
    return {r[0] for r in rows}


def _copy(
    cur: psycopg.Cursor[Any], table: str, cols: Sequence[str], have: set[str], rows: list[tuple[Any, ...]]
) -> None:
    keep = [i for i, c in enumerate(cols) if c in have]
    names = ", ".join(f'"{cols[i]}"' for i in keep)
    whole = len(keep) == len(cols)
    with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row if whole else tuple(row[i] for i in keep))


def load(url: str, regions: int, seed: int) -> tuple[Truth, dict[str, float]]:
    """Fill the (empty) bench database; the truth for the queries and the seconds each step took."""
    t0 = time.perf_counter()
    truth = Truth()
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO model_versions (id, name, kind, files, params, active, description)"
            " VALUES (1, 'bench-search', 'pipeline', '{}', '{}', true, 'bench/bench_search.py data')"
        )
        have = {t: columns(conn, t) for t in ("videos", "frames", "text_tracks", "regions")}
        if "raw_text" not in have["text_tracks"]:
            log("text_tracks.raw_text does not exist: left out")
        drop_indexes(conn, ("regions", "text_tracks"))
        n = Counter[str]()
        conn.autocommit = False
        with conn.cursor() as cur:
            for chunk in generate(regions, seed, truth):
                _copy(cur, "videos", VIDEO_COLS, have["videos"], chunk.videos)
                _copy(cur, "frames", FRAME_COLS, have["frames"], chunk.frames)
                _copy(cur, "text_tracks", TRACK_COLS, have["text_tracks"], chunk.tracks)
                _copy(cur, "regions", REGION_COLS, have["regions"], chunk.regions)
                conn.commit()
                n.update(
                    videos=len(chunk.videos), frames=len(chunk.frames), tracks=len(chunk.tracks),
                    regions=len(chunk.regions),
                )  # fmt: skip
                if n["videos"] % (CHUNK_MEDIA * 4) == 0 or len(chunk.videos) < CHUNK_MEDIA:
                    log(
                        f"  loaded {n['videos']} media, {n['frames']} frames, {n['tracks']} tracks,"
                        f" {n['regions']} regions: {time.perf_counter() - t0:.1f} s"
                    )
        conn.autocommit = True
        t_copy = time.perf_counter()
        log(f"COPY done: {dict(n)} in {t_copy - t0:.1f} s; building indexes")
        for table in ("model_versions", "videos", "frames", "text_tracks", "regions"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        conn.execute("SET maintenance_work_mem = '1GB'")
        row = conn.execute("SELECT value FROM bench_meta WHERE key = 'dropped_indexes'").fetchone()
        for name, definition in json.loads(row[0]) if row else []:
            t1 = time.perf_counter()
            conn.execute(definition)
            log(f"  index {name}: {time.perf_counter() - t1:.1f} s")
        conn.execute("DELETE FROM bench_meta WHERE key = 'dropped_indexes'")
        t_index = time.perf_counter()
        words = add_vocabulary(url)
        t_words = time.perf_counter()
        if words is not None:
            log(f"  vocabulary: {words} words, {t_words - t_index:.1f} s")
        log("VACUUM (ANALYZE)")
        conn.execute("VACUUM (ANALYZE)")
        t_end = time.perf_counter()
    steps = {
        "generate_and_copy_s": round(t_copy - t0, 1),
        "indexes_s": round(t_index - t_copy, 1),
        "vocabulary_s": round(t_words - t_index, 1),
        "vacuum_analyze_s": round(t_end - t_words, 1),
        "total_s": round(t_end - t0, 1),
    }
    log(f"loaded in {steps['total_s']} s")
    return truth, steps


def add_vocabulary(url: str) -> int | None:
    """What the write path does after a bulk load, where search keeps a vocabulary of the words read
    (``dva_ocr.search.vocabulary.add_all_words``, if it exists): the words added, or None."""
    try:
        from dva_ocr.search.vocabulary import add_all_words  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            n = int(add_all_words(session))
            session.commit()
    finally:
        engine.dispose()
    return n


def table_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    out = {}
    for table in ("model_versions", "videos", "frames", "text_tracks", "regions"):
        out[table] = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
    return out


# --- the queries -----------------------------------------------------------------------------------


def _word_re(w: str, lexeme: dict[str, str | None] | None = None) -> str:
    """A word at a word start, any ending, from its stem on when ``lexeme`` knows it (stemmed
    full-text matches: ``station`` finds ``stations``, ``lasts`` finds ``last``)."""
    lex = (lexeme or {}).get(w)
    stem = os.path.commonprefix([w, lex]) if lex else w
    return r"(?<![^\W_])" + re.escape(stem if len(stem) >= 3 else w)


def _all(*patterns: str) -> str:
    return "".join(f"(?=.*{p})" for p in patterns)


def _edit(rng: random.Random, word: str, vocab: set[str]) -> str:
    """One edit (substitution, deletion, insertion, transposition) of ``word`` that is not a word."""
    for _ in range(50):
        at = rng.randint(1, len(word) - 2)
        op = rng.choice(("sub", "del", "ins", "swap"))
        c = rng.choice(string.ascii_lowercase)
        if op == "sub":
            out = word[:at] + c + word[at + 1 :]
        elif op == "del":
            out = word[:at] + word[at + 1 :]
        elif op == "ins":
            out = word[:at] + c + word[at:]
        else:
            out = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        if out != word and out not in vocab:
            return out
    return word[:-1]


def _query(kind: str, q: str, found: str | None = None, **params: Any) -> dict[str, Any]:
    return {"kind": kind, "q": q, "found_re": found, "params": params}


def choose_queries(truth: Truth, seed: int, n: int, lexeme: dict[str, str | None]) -> list[dict[str, Any]]:
    """``n`` queries per kind with the text each should find (a regex over a hit's text). ``lexeme``:
    each word's full-text lexeme (None: a stopword)."""
    from dva_ocr.ocr.training.synth import english_words

    rng = random.Random(seed + 1)
    vocab_list = list(english_words(30000))
    vocab = set(vocab_list)
    rank = {w: i + 1 for i, w in enumerate(vocab_list)}
    stems: Counter[str] = Counter()  # tracks per lexeme: what a full-text query for a word finds
    for w, c in truth.counts.items():
        stems[lexeme.get(w) or w] += c

    def ok(w: str) -> bool:
        return len(w) >= 3 and lexeme.get(w, w) is not None and truth.counts[w] > 0

    def group(w: str) -> int:
        return stems[lexeme.get(w) or w]

    def _word(w: str) -> str:
        return _word_re(w, lexeme)

    def pick(items: Sequence[Any], k: int = n) -> list[Any]:
        items = list(items)
        return rng.sample(items, min(k, len(items)))

    out: list[dict[str, Any]] = []
    common = [w for w in vocab_list[4:] if ok(w)][:n]
    out += [_query("common", w, _word(w), rank=rank[w], tracks=truth.counts[w]) for w in common]
    rare = sorted(w for w, c in truth.counts.items() if c >= 5 and group(w) <= 50 and ok(w) and len(w) >= 4)
    out += [_query("rare", w, _word(w), tracks=truth.counts[w]) for w in pick(rare)]

    lines = [[w for w in dict.fromkeys(s) if ok(w)] for s in truth.samples]
    multi = [ws for ws in lines if len(ws) >= 2]
    for ws in pick(multi):
        a, b = rng.sample(ws, 2)
        out.append(_query("and", f"{a} {b}", _all(_word(a), _word(b))))
    adjacent = sorted(
        {(s[i], s[i + 1]) for s in truth.samples for i in range(len(s) - 1) if ok(s[i]) and ok(s[i + 1])}
    )
    for a, b in pick(adjacent):
        out.append(_query("phrase", f'"{a} {b}"', _word(a) + r"\w*[\W_]+" + re.escape(b)))
    mid = [w for w in vocab_list[50:2000] if ok(w)]
    for a, b in zip(pick(mid), pick(mid), strict=False):
        if a != b:
            out.append(_query("or", f"{a} OR {b}", f"(?:{_word(a)}|{_word(b)})"))
    nots = 0
    for ws in pick(multi, 4 * n):
        a, b = rng.sample(ws, 2)
        if truth.counts[a] < truth.counts[b]:
            a, b = b, a  # a on other lines too, without b
        if nots < n and truth.counts[a] >= 20 and not (a.startswith(b) or b.startswith(a)):
            nots += 1
            out.append(_query("not", f"{a} -{b}", _word(a), excluded_re=_word_re(b) + r"(?!\w)"))

    typo = [w for w in vocab_list[199:3000] if ok(w) and len(w) >= 5 and w.isascii()]
    out += [_query("typo", _edit(rng, w, vocab), _word(w), word=w) for w in pick(typo)]
    long_pairs = [[w for w in ws if len(w) >= 5] for ws in multi]
    for ws in pick([ws for ws in long_pairs if len(ws) >= 2]):
        a, b = rng.sample(ws, 2)
        out.append(
            _query("typo2", f"{_edit(rng, a, vocab)} {_edit(rng, b, vocab)}", _all(_word(a), _word(b)))
        )

    def rarest(kind: str, k: int) -> list[dict[str, Any]]:
        """Planted corruptions of ``kind`` whose clean words are on the fewest tracks (their hits fit on
        the first page with the clean ones), a random ``k`` of the 3k rarest, in track order."""
        plants = [p for p in truth.plants if p["kind"] == kind]
        seen: set[str] = set()
        unique = []
        for p in plants:
            key = p["clean"].lower()
            if key not in seen and not any(c in key for c in "0123456789"):
                seen.add(key)
                unique.append(p)

        def score(p: dict[str, Any]) -> int:
            return max(group(w) for w in _WORD_RE.findall(p["clean"].lower()) or [""])

        unique.sort(key=lambda p: (score(p), p["track"]))
        return sorted(pick(unique[: 3 * k], k), key=lambda p: p["track"])

    half = n // 2
    for p in rarest("split", n - half):
        out.append(_query("compact", p["clean"].lower(), re.escape(p["corrupt"]), planted=p["corrupt"]))
    for p in rarest("glue", half):
        out.append(_query("compact", p["clean"].lower(), re.escape(p["corrupt"]), planted=p["corrupt"]))
    for p in rarest("misread", n):
        out.append(_query("folded", p["clean"].lower(), re.escape(p["corrupt"]), planted=p["corrupt"]))

    # codes whose 4 digits occur nowhere else (no other code, number, price, date or phone)
    codes = sorted(c for c in truth.codes if len(d := c.split("-")[1]) == 4 and truth.numbers[d] == 1)
    for c in pick(codes):
        out.append(_query("code", c.split("-")[1], re.escape(c), planted=c))

    grams = sorted(
        {
            line[i : i + 2]
            for line in truth.cjk_lines
            for i in range(len(line) - 1)
            if _CJK_RE.match(line[i]) and _CJK_RE.match(line[i + 1])
        }
    )
    out += [_query("cjk", g, re.escape(g)) for g in pick(grams)]
    out += [_query("stopwords", q) for q in STOPWORD_QUERIES[:n]]
    for _ in range(n):
        junk = "".join(rng.choices("bcdfghjklmnpqrstvwxz", k=rng.randint(7, 10)))
        out.append(_query("no_match", junk if rng.random() < 0.7 else f"{junk[:4]} {junk[4:]}"))

    # a media item that has the word (from the sample lines), else any video
    holders = {
        w: sorted({m for s, m in zip(truth.samples, truth.sample_media, strict=True) if w in s})
        for w in common
    }
    videos = [v for v, frames in truth.videos if frames > 1] or [v for v, _ in truth.videos]
    for w in pick(common):
        out.append(_query("filter_media", w, _word(w), media_id=rng.choice(holders[w] or videos)))
    for w in pick(common):
        out.append(_query("filter_confidence", w, _word(w), min_confidence=0.9))
    for w in pick(common):
        out.append(_query("filter_time", w, _word(w), time_from=10.0, time_to=60.0))
    for w in pick(common):
        out.append(_query("page1", w, _word(w), limit=50, offset=0))
    for w in pick(common):
        out.append(_query("page_deep", w, _word(w), limit=50, offset=1000))
    return out


def lexemes(url: str, words: Iterable[str]) -> dict[str, str | None]:
    """Each word's lexeme in PostgreSQL's english configuration (its stem; None for a stopword)."""
    with psycopg.connect(libpq(url)) as conn:
        rows = conn.execute(
            "SELECT w, (SELECT min(lexeme) FROM unnest(to_tsvector('english', w)))"
            " FROM unnest(%s::text[]) AS w",
            (sorted(set(words)),),
        ).fetchall()
    return {r[0]: r[1] for r in rows}


# --- running them ----------------------------------------------------------------------------------

SEARCH_PARAMS = ("media_id", "limit", "offset", "min_confidence", "time_from", "time_to")


@dataclass
class Result:
    kind: str
    level: str
    q: str
    ms: float
    hits: int = 0
    found: bool | None = None
    error: str | None = None  # "timeout", "rejected: ...", "skipped", or the database's message


def _attr(hit: Any, name: str) -> Any:
    if isinstance(hit, dict):
        return hit.get(name)
    return getattr(hit, name, None)


def _found(item: dict[str, Any], level: str, hits: Sequence[Any]) -> bool | None:
    """Whether the first page holds the planted text and obeys the query's filters (None: no truth)."""
    found_re = item.get("found_re")
    if not found_re:
        return None
    p = item["params"]
    texts = [str(_attr(h, "text") or "") for h in hits]
    if not any(re.search(found_re, t, re.I | re.S) for t in texts):
        return False
    excluded = p.get("excluded_re")
    if excluded and any(re.search(excluded, t, re.I) for t in texts):
        return False
    for h in hits:
        if p.get("media_id") is not None and _attr(h, "media_id") != p["media_id"]:
            return False
        conf = _attr(h, "confidence")
        if p.get("min_confidence") is not None and conf is not None and conf < p["min_confidence"] - 1e-4:
            return False
        if p.get("time_from") is not None:
            start = float(_attr(h, "time") or 0.0)
            end = _attr(h, "end")
            end = start if end is None else float(end)
            if start > p["time_to"] + 1e-6 or max(start, end) < p["time_from"] - 1e-6:
                return False
    return True


def run_one(session: Session, item: dict[str, Any], level: str, search: Callable[..., Any]) -> Result:
    """One timed search call in its own transaction (rolled back after)."""
    p = item["params"]
    kwargs = {k: p[k] for k in SEARCH_PARAMS if k in p}
    kwargs.setdefault("limit", 50)
    kwargs.setdefault("offset", 0)
    res = Result(item["kind"], level, item["q"], 0.0)
    t0 = time.perf_counter()
    try:
        hits = search(session, item["q"], level=level, **kwargs)
        res.ms = (time.perf_counter() - t0) * 1000
        hits = list(hits)
        res.hits = len(hits)
        res.found = _found(item, level, hits)
    except ValueError as exc:  # SearchError: a rejected query
        res.ms = (time.perf_counter() - t0) * 1000
        res.error = f"rejected: {exc}"
    except DBAPIError as exc:
        res.ms = (time.perf_counter() - t0) * 1000
        cancelled = isinstance(exc.orig, psycopg.errors.QueryCanceled)
        res.error = "timeout" if cancelled else f"{type(exc.orig).__name__}: {str(exc.orig).strip()[:200]}"
    finally:
        session.rollback()
    return res


def make_engine(url: str, timeout_ms: int, clients: int) -> Engine:
    return create_engine(
        url,
        pool_size=clients + 1,
        max_overflow=0,
        connect_args={"options": f"-c statement_timeout={timeout_ms}"},
    )


def sequential(
    engine: Engine, items: list[dict[str, Any]], search: Callable[..., Any], max_timeouts: int
) -> list[Result]:
    results: list[Result] = []
    with engine.connect() as conn, Session(bind=conn) as session:
        for kind in dict.fromkeys(it["kind"] for it in items):
            mine = [it for it in items if it["kind"] == kind]
            for level in LEVELS:
                t0, timeouts = time.perf_counter(), 0
                for item in mine:
                    if timeouts >= max_timeouts:
                        results.append(Result(kind, level, item["q"], math.nan, error="skipped"))
                        continue
                    warm = run_one(session, item, level, search)
                    res = warm if warm.error == "timeout" else run_one(session, item, level, search)
                    timeouts += res.error == "timeout"
                    results.append(res)
                got = [r for r in results if r.kind == kind and r.level == level]
                log(
                    f"  {kind:<18} {level:<8} {len(got)} queries, p95 {_pct([r.ms for r in got], 95):.1f} ms"
                    f" ({time.perf_counter() - t0:.1f} s)"
                )
    return results


def concurrent(
    engine: Engine,
    items: list[dict[str, Any]],
    search: Callable[..., Any],
    clients: int,
    seconds: float,
    seed: int,
) -> tuple[list[Result], float]:
    work = [(item, level) for item in items for level in LEVELS]
    results: list[list[Result]] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    go = threading.Event()
    deadline = [0.0]

    def client(i: int) -> None:
        order = list(work)
        random.Random(seed + 100 + i).shuffle(order)
        with engine.connect() as conn, Session(bind=conn) as session:
            barrier.wait(timeout=60)
            go.wait()
            k = 0
            while time.perf_counter() < deadline[0]:
                item, level = order[k % len(order)]
                results[i].append(run_one(session, item, level, search))
                k += 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait(timeout=60)  # every client connected; they start once the deadline is set
    t0 = time.perf_counter()
    deadline[0] = t0 + seconds
    go.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return [r for rs in results for r in rs], elapsed


# --- figures ---------------------------------------------------------------------------------------


def _pct(values: Sequence[float], q: float) -> float:
    vals = sorted(v for v in values if not math.isnan(v))
    if not vals:
        return math.nan
    pos = (len(vals) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)


def _r(x: float, nd: int = 2) -> float | None:
    return None if math.isnan(x) else round(x, nd)


def _is_error(error: str | None) -> bool:
    return bool(error) and error not in ("timeout", "skipped") and not str(error).startswith("rejected")


def stats(results: Sequence[Result]) -> dict[str, Any]:
    ms = [r.ms for r in results if r.error != "skipped"]
    found = [r.found for r in results if r.found is not None]
    answered = [r for r in results if r.error is None]
    return {
        "n": len(results),
        "p50_ms": _r(_pct(ms, 50)),
        "p95_ms": _r(_pct(ms, 95)),
        "max_ms": _r(max(ms)) if ms else None,
        "mean_ms": _r(sum(ms) / len(ms)) if ms else None,
        "timeouts": sum(r.error == "timeout" for r in results),
        "rejected": sum(bool(r.error and r.error.startswith("rejected")) for r in results),
        "skipped": sum(r.error == "skipped" for r in results),
        "errors": sum(_is_error(r.error) for r in results),
        "hits_mean": _r(sum(r.hits for r in answered) / len(answered), 1) if answered else None,
        "hits_zero": sum(r.hits == 0 for r in answered),
        "found": _r(sum(found) / len(found), 3) if found else None,
    }


def goals(kinds: dict[str, Any], conc: dict[str, Any], all_results: Sequence[Result]) -> list[dict[str, Any]]:
    def check(name: str, limit: float, values: dict[str, float | None]) -> dict[str, Any]:
        failing = {k: v for k, v in values.items() if v is None or v > limit}
        return {"goal": name, "limit_ms": limit, "pass": not failing and bool(values), "failing": failing}

    def p95s(names: Iterable[str]) -> dict[str, float | None]:
        return {f"{k}/{lv}": kinds[k][lv]["p95_ms"] for k in names if k in kinds for lv in LEVELS}

    worst = [r for r in all_results if r.error in ("timeout", "skipped") or r.ms > GOAL_MAX_MS]
    over = {f"{r.kind}/{r.level} {r.q!r}": (None if math.isnan(r.ms) else round(r.ms, 1)) for r in worst}
    return [
        check("full-text kinds p95 <= 50 ms", GOAL_FULLTEXT_MS, p95s(FULLTEXT_KINDS)),
        check("fuzzy kinds p95 <= 200 ms", GOAL_FUZZY_MS, p95s(FUZZY_KINDS)),
        check(
            "every kind p95 <= 200 ms at 8 clients",
            GOAL_CONCURRENT_MS,
            {k: v["p95_ms"] for k, v in conc.get("kinds", {}).items()},
        ),
        {
            "goal": "no call over 1 s",
            "limit_ms": GOAL_MAX_MS,
            "pass": not over,
            "failing": dict(list(over.items())[:50]),
            "calls_over": len(over),
        },
    ]


def table(kinds: dict[str, Any], conc: dict[str, Any]) -> str:
    def f(v: Any, width: int = 7, nd: int = 1) -> str:
        return f"{'-':>{width}}" if v is None else f"{v:>{width}.{nd}f}"

    head = f"{'kind':<18}" + "".join(
        f" | {lv:<7}{'p50':>7}{'p95':>8}{'max':>8}{'hits':>6}{'found':>6}" for lv in LEVELS
    )
    head += f" | {'8 clients p95':>13} | goal"
    lines = [head, "-" * len(head)]
    for kind in KINDS:
        if kind not in kinds:
            continue
        row = f"{kind:<18}"
        for lv in LEVELS:
            s = kinds[kind][lv]
            flag = "!" if (s["timeouts"] or s["skipped"] or s["errors"]) else " "
            row += f" | {flag:<7}{f(s['p50_ms'])}{f(s['p95_ms'], 8)}{f(s['max_ms'], 8)}"
            row += f"{f(s['hits_mean'], 6, 0)}{f(s['found'], 6, 2)}"
        c = conc.get("kinds", {}).get(kind, {})
        limit = GOAL_FULLTEXT_MS if kind in FULLTEXT_KINDS else GOAL_FUZZY_MS
        row += f" | {f(c.get('p95_ms'), 13)} | <= {limit:.0f} ms"
        lines.append(row)
    return "\n".join(lines)


def server_settings(url: str) -> dict[str, Any]:
    with psycopg.connect(libpq(url)) as conn:
        out: dict[str, Any] = {"version": conn.execute("SHOW server_version").fetchone()[0]}  # type: ignore[index]
        for name in (
            "shared_buffers",
            "work_mem",
            "effective_cache_size",
            "jit",
            "max_parallel_workers_per_gather",
        ):
            out[name] = conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
        out["database_size"] = size[0] if size else None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/bench/search.json"), help="JSON results file")
    ap.add_argument("--database-url", default=None, help=f"bench database (default: {DEFAULT_URL})")
    ap.add_argument("--regions", type=int, default=1_000_000, help="regions to generate (tracks ~0.3x)")
    ap.add_argument("--reload", action="store_true", help="load the data again even if it matches")
    ap.add_argument("--recreate", action="store_true", help="drop and create the bench database first")
    ap.add_argument("--queries", type=int, default=QUERIES_STORED, help="distinct query strings per kind")
    ap.add_argument("--kinds", default="", help="comma-separated kinds to run (default: all)")
    ap.add_argument("--concurrent-seconds", type=float, default=30.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--timeout-ms", type=int, default=10_000, help="statement_timeout of the bench sessions")
    ap.add_argument(
        "--max-timeouts", type=int, default=3, help="per kind and level, then the rest is skipped"
    )
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)

    from dva_ocr.db.migrate import drop_database, ensure_database, upgrade

    url = args.database_url or bench_database_url()
    # one run per bench database on this machine: a second one would truncate the first's load
    lock = open(Path(tempfile.gettempdir()) / f"dva_bench_search.{make_url(url).database}.lock", "w")  # noqa: SIM115
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        ap.error(f"another bench_search run is using {make_url(url).database}; wait for it")
    if args.recreate:
        drop_database(url)
    ensure_database(url)
    head = alembic_head()
    want = {
        "generator": GENERATOR_VERSION,
        "seed": str(args.seed),
        "regions": str(args.regions),
        "alembic_head": head,
        "queries_per_kind": str(max(QUERIES_STORED, args.queries)),  # --queries only trims below this
    }
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        meta = read_meta(conn)
        reuse = (
            not args.reload and meta.get("complete") == "1" and all(meta.get(k) == v for k, v in want.items())
        )
        if not reuse:
            # before the upgrade: a migration then runs over empty tables
            truncate_all(conn)
            restore_indexes(conn)
    upgrade(url)
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if row is None or row[0] != head:
            raise RuntimeError(f"database at {row}, Alembic head is {head}")
    if reuse:
        log(
            f"reusing the loaded data ({meta['regions']} regions, generator {GENERATOR_VERSION}, head {head})"
        )
        items = json.loads(meta["queries"])
        load_info: Any = "reused"
        load_steps = json.loads(meta.get("load_steps", "{}"))
    else:
        log(f"loading {args.regions} regions into {make_url(url).database}")
        truth, load_steps = load(url, args.regions, args.seed)
        from dva_ocr.ocr.training.synth import english_words

        words = [*english_words(30000), *truth.counts]
        items = choose_queries(truth, args.seed, int(want["queries_per_kind"]), lexemes(url, words))
        load_info = load_steps["total_s"]
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            write_meta(
                conn,
                {**want, "queries": json.dumps(items), "load_steps": json.dumps(load_steps), "complete": "1"},
            )
    with psycopg.connect(libpq(url)) as conn:
        scale = table_counts(conn)
    log(f"scale: {scale}")

    kinds_wanted = [k for k in args.kinds.split(",") if k] or list(KINDS)
    unknown = set(kinds_wanted) - set(KINDS)
    if unknown:
        ap.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        by_kind.setdefault(it["kind"], []).append(it)
    items = [it for k in kinds_wanted for it in by_kind.get(k, [])[: args.queries]]

    import dva_ocr.search as search_module

    search = search_module.search
    engine = make_engine(url, args.timeout_ms, args.clients)
    log(f"sequential: {len(items)} queries x {len(LEVELS)} levels")
    seq = sequential(engine, items, search, args.max_timeouts)
    kinds: dict[str, Any] = {}
    for kind in kinds_wanted:
        rs = [r for r in seq if r.kind == kind]
        kinds[kind] = {lv: stats([r for r in rs if r.level == lv]) for lv in LEVELS}
        kinds[kind]["queries"] = [
            {"q": r.q, "level": r.level, "ms": _r(r.ms), "hits": r.hits, "found": r.found, "error": r.error}
            for r in rs
        ]
    conc: dict[str, Any] = {"clients": args.clients, "seconds": args.concurrent_seconds}
    cres: list[Result] = []
    if args.concurrent_seconds > 0 and items:
        log(f"concurrent: {args.clients} clients for {args.concurrent_seconds:.0f} s")
        cres, elapsed = concurrent(engine, items, search, args.clients, args.concurrent_seconds, args.seed)
        conc.update(
            calls=len(cres),
            elapsed_s=round(elapsed, 1),
            queries_per_s=round(len(cres) / elapsed, 1),
            overall=stats(cres),
            kinds={k: stats([r for r in cres if r.kind == k]) for k in kinds_wanted},
            kind_levels={
                f"{k}/{lv}": stats([r for r in cres if r.kind == k and r.level == lv])
                for k in kinds_wanted
                for lv in LEVELS
            },
        )
    engine.dispose()

    goal_list = goals(kinds, conc, [*seq, *cres])
    out = {
        "benchmark": "search",
        "database": make_url(url).database,
        "generator": GENERATOR_VERSION,
        "seed": args.seed,
        "requested_regions": args.regions,
        "scale": scale,
        "load_seconds": load_info,
        "load_steps": load_steps,
        "alembic_head": head,
        "search_module": getattr(search_module, "__file__", None),
        "statement_timeout_ms": args.timeout_ms,
        "kinds": kinds,
        "concurrency": conc,
        "goals": goal_list,
        "all_goals_pass": all(g["pass"] for g in goal_list),
        "postgres": server_settings(url),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(table(kinds, conc))
    if "overall" in conc:
        o = conc["overall"]
        print(
            f"\n{args.clients} clients, {conc['elapsed_s']} s: {conc['calls']} calls"
            f" ({conc['queries_per_s']}/s),"
            f" p50 {o['p50_ms']} ms, p95 {o['p95_ms']} ms, max {o['max_ms']} ms, timeouts {o['timeouts']}"
        )
    print(f"scale {scale}; load {load_info if load_info == 'reused' else f'{load_info} s'}")
    for g in goal_list:
        print(
            f"{'PASS' if g['pass'] else 'FAIL'}  {g['goal']}"
            + (f"  ({len(g['failing'])} failing)" if g["failing"] else "")
        )
    return 0


def bench_database_url(name: str = "dva_bench_search") -> str:
    """The bench database ``name`` on DATABASE_URL's server (its user, password, host and port)."""
    if not os.environ.get("DATABASE_URL"):
        return make_url(DEFAULT_URL).set(database=name).render_as_string(hide_password=False)
    from dva_ocr.settings import get_settings

    return make_url(get_settings().database_url).set(database=name).render_as_string(hide_password=False)


if __name__ == "__main__":
    sys.exit(main())
