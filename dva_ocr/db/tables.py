"""SQLAlchemy 2 models. The schema changes only through Alembic (migrations/)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# The text search configuration behind regions.tsv; queries must use the same one.
TS_CONFIG = "english"


def _tsv(raw: str) -> str:
    """Full text over the text and, where it differs, the recogniser's raw string (migration 0007)."""
    one = f"to_tsvector('{TS_CONFIG}'::regconfig, text)"
    return f"CASE WHEN {raw} = text THEN {one} ELSE {one} || to_tsvector('{TS_CONFIG}'::regconfig, {raw}) END"


def _search_indexes(table: str) -> tuple[Index, ...]:
    """Full text, trigram on the folded form (substring matches of the compact and folded forms), CJK
    bigrams. The SQL functions behind the generated columns come from migration 0007."""
    return (
        Index(f"ix_{table}_tsv", "tsv", postgresql_using="gin"),
        Index(
            f"ix_{table}_folded_trgm",
            "folded",
            postgresql_using="gin",
            postgresql_ops={"folded": "gin_trgm_ops"},
        ),
        Index(f"ix_{table}_cjk", "cjk", postgresql_using="gin"),
    )


class Base(DeclarativeBase):
    pass


class VideoStatus(enum.StrEnum):
    queued = "queued"
    processing = "processing"
    finalizing = "finalizing"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"  # stopped by a person; retry runs it again from the start


class ModelVersion(Base):
    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="pipeline")
    files: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=False)  # the default for new media (one at most)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Video(Base):
    """One uploaded media item: a video, or an image stored as a one-frame video."""

    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_name: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    media_type: Mapped[str | None] = mapped_column(String(10))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    duration: Mapped[float | None] = mapped_column(Float)
    fps: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    sample_fps: Mapped[float] = mapped_column(Float)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    status: Mapped[str] = mapped_column(String(20), default=VideoStatus.queued, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    extracted: Mapped[bool] = mapped_column(Boolean, default=False)
    frames_total: Mapped[int | None] = mapped_column(Integer)
    frames_extracted: Mapped[int] = mapped_column(Integer, default=0)
    frames_ocr: Mapped[int] = mapped_column(Integer, default=0)
    regions_count: Mapped[int] = mapped_column(Integer, default=0)
    sampling: Mapped[str] = mapped_column(String(20), default="fixed")  # fixed | keyframes | scene
    scene_threshold: Mapped[float] = mapped_column(Float, default=0.3)
    max_gap_s: Mapped[float] = mapped_column(
        Float, default=2.0
    )  # keyframes/scene: a frame at least this often
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)  # see dva_ocr.filters
    frames_skipped: Mapped[int] = mapped_column(Integer, default=0)  # unchanged: earlier regions reused
    frames_partial: Mapped[int] = mapped_column(Integer, default=0)  # only the changed row bands read
    tracks_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # when a stage last wrote to it (the stuck-work sweep looks at unfinished items not touched lately)
    touched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    requeues: Mapped[int] = mapped_column(Integer, default=0)  # times the sweep queued it again
    # the change detector reads the whole frame at least this often (seconds; 0: never; None: MAX_REUSE_S)
    max_reuse_s: Mapped[float | None] = mapped_column(Float)
    # who uploaded it (null: the CLI, a watch folder, or a deleted user); members may delete their own
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # what a person should know about how it was read: spans that could not be decoded, which of
    # several video streams was read (sentences; set by extraction, cleared by a reset)
    notes: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    video_stream: Mapped[int | None] = mapped_column(Integer)  # which video stream to read (null: the first)
    # false when running it again cannot help (ffprobe found no usable media in the file): no Retry
    retryable: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")

    model_version: Mapped[ModelVersion] = relationship()


class Frame(Base):
    __tablename__ = "frames"
    __table_args__ = (UniqueConstraint("video_id", "index", name="uq_frames_video_index"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    time_s: Mapped[float] = mapped_column(Float)
    path: Mapped[str] = mapped_column(Text)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    # Set when the frame builds on an earlier one (frame ``ref_index``): ``bands`` are the pixel row
    # ranges [y0, y1) that changed and are read; an empty list means nothing changed (no OCR at all).
    ref_index: Mapped[int | None] = mapped_column(Integer)
    bands: Mapped[list[list[int]] | None] = mapped_column(JSONB(none_as_null=True))


class FrameOcr(Base):
    """Marks a frame as read by a model version: the unit of idempotent OCR writes."""

    __tablename__ = "frame_ocr"

    frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"), primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), primary_key=True)
    regions_count: Mapped[int] = mapped_column(Integer)
    elapsed_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Region(Base):
    __tablename__ = "regions"
    __table_args__ = (
        Index("ix_regions_frame_model", "frame_id", "model_version_id"),
        Index("ix_regions_video_model", "video_id", "model_version_id"),
        *_search_indexes("regions"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"))
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    polygon: Mapped[list[list[float]]] = mapped_column(JSONB)
    x: Mapped[int] = mapped_column(Integer)
    y: Mapped[int] = mapped_column(Integer)
    w: Mapped[int] = mapped_column(Integer)
    h: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    raw_text: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    time_s: Mapped[float] = mapped_column(Float)  # its frame's, for time filters without a join
    tsv: Mapped[str] = mapped_column(TSVECTOR, Computed(_tsv("raw_text"), persisted=True))
    compact: Mapped[str] = mapped_column(Text, Computed("dva_compact(text)", persisted=True))
    folded: Mapped[str] = mapped_column(Text, Computed("dva_fold(text)", persisted=True))
    cjk: Mapped[list[str] | None] = mapped_column(
        ARRAY(Text), Computed("dva_cjk_bigrams(text)", persisted=True)
    )


class TextTrack(Base):
    """The same text followed across consecutive sampled frames; ``text`` is the confidence-weighted
    vote over its readings. ``boxes``: [{"t", "frame", "box": [x, y, w, h]}] per frame it was seen in."""

    __tablename__ = "text_tracks"
    __table_args__ = (
        Index("ix_text_tracks_video_model", "video_id", "model_version_id", "start_s"),
        *_search_indexes("text_tracks"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    text: Mapped[str] = mapped_column(Text)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    agreement: Mapped[float] = mapped_column(Float)  # share of the readings' weight that voted for text
    readings: Mapped[int] = mapped_column(Integer)
    best_frame_id: Mapped[int | None] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"))
    boxes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    x: Mapped[int] = mapped_column(Integer)
    y: Mapped[int] = mapped_column(Integer)
    w: Mapped[int] = mapped_column(Integer)
    h: Mapped[int] = mapped_column(Integer)
    raw_text: Mapped[str] = mapped_column(Text, server_default="")  # the best reading's, before word spacing
    tsv: Mapped[str] = mapped_column(
        TSVECTOR, Computed(_tsv("coalesce(nullif(raw_text, ''), text)"), persisted=True)
    )
    compact: Mapped[str] = mapped_column(Text, Computed("dva_compact(text)", persisted=True))
    folded: Mapped[str] = mapped_column(Text, Computed("dva_fold(text)", persisted=True))
    cjk: Mapped[list[str] | None] = mapped_column(
        ARRAY(Text), Computed("dva_cjk_bigrams(text)", persisted=True)
    )


class SearchWord(Base):
    """The distinct words (3-32 characters, lowercased) of all regions, kept by a trigger on
    ``regions``: typo-tolerant search looks a mistyped query word up here."""

    __tablename__ = "search_words"
    __table_args__ = (
        Index(
            "ix_search_words_trgm", "word", postgresql_using="gin", postgresql_ops={"word": "gin_trgm_ops"}
        ),
    )

    word: Mapped[str] = mapped_column(Text, primary_key=True)


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"  # finished, some items failed (retry them)
    cancelled = "cancelled"
    paused = "paused"  # items stop between chunks and wait (queued) until the job is resumed


class Job(Base):
    """A reprocessing job: a model version run over a set of media items (one ``JobItem`` each)."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="reprocess")
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    selection: Mapped[dict[str, Any]] = mapped_column(JSONB)  # how the media were chosen
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.queued)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    model_version: Mapped[ModelVersion] = relationship()


class JobItem(Base):
    __tablename__ = "job_items"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    video_id: Mapped[int] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.queued)
    frames_total: Mapped[int] = mapped_column(Integer, default=0)
    frames_done: Mapped[int] = mapped_column(Integer, default=0)
    previous_model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)  # role: admin, else member
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # may not log in

    @property
    def role(self) -> str:
        return "admin" if self.is_admin else "member"


class ApiToken(Base):
    """A bearer token for scripts. Only its SHA-256 is stored; the token is shown once, at creation."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A dashboard login. The cookie carries a random token; only its SHA-256 is stored, so logout,
    a password change or an admin's "log out everywhere" ends it on the server (``ended_at``)."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuthFailure(Base):
    """Failed logins (or bearer tokens) per account and per client address, for throttling."""

    __tablename__ = "auth_failures"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SegmentStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"


class VideoSegment(Base):
    """A time range of a long video that one ``qextract`` task extracts (``dva_ocr.pipeline.segments``):
    the frames a whole pass takes at times in [start_s, end_s). ``touched_at``: when its task last
    wrote frames (the sweep queues a running segment again when that was long ago); ``report``: what
    ffmpeg reported decoding it (``DecodeReport.to_json``), merged into the item's notes at the end."""

    __tablename__ = "video_segments"

    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float | None] = mapped_column(Float)  # null: to the end of the video
    status: Mapped[str] = mapped_column(String(20), default=SegmentStatus.queued)
    frames: Mapped[int] = mapped_column(Integer, default=0)  # frame rows it wrote (once done)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # times a task started it
    report: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    touched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OcrPending(Base):
    """A frame waiting in the OCR pool to be read by a model version (``dva_ocr.pipeline.pool``): for
    an item being ingested (``job_id`` null) or for a reprocessing job's item. ``OCR_POOL`` tasks claim
    the oldest ones of a model version, several media items' frames in one batch."""

    __tablename__ = "ocr_pending"
    __table_args__ = (
        UniqueConstraint(
            "frame_id",
            "model_version_id",
            "job_id",
            name="uq_ocr_pending",
            postgresql_nulls_not_distinct=True,
        ),
        Index("ix_ocr_pending_model", "model_version_id", "id"),
        Index("ix_ocr_pending_item", "video_id", "job_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"))
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OcrAttempt(Base):
    """How many batches a pooled frame was claimed by (counted in a transaction of its own, so a worker
    that dies mid-batch leaves it counted): such a frame is read alone, its item failed after too many."""

    __tablename__ = "ocr_attempts"

    pending_id: Mapped[int] = mapped_column(
        ForeignKey("ocr_pending.id", ondelete="CASCADE"), primary_key=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=1)


class OcrWakeup(Base):
    """Per model version: when an ``OCR_POOL`` task was last sent for its pool and not taken yet (null:
    none is waiting), so that frames pooled meanwhile do not each send one."""

    __tablename__ = "ocr_wakeups"

    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    woken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
