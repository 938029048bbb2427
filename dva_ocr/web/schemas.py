"""What the REST API answers, as Pydantic models: the routes' ``response_model``, so /docs and
/openapi.json describe every body, and the error shape (``Error``) they answer with.

The routes still build their bodies with the library's ``*_json`` functions; these models validate and
document them (a field they left out would be dropped, which tests/test_web_schemas.py catches).
Nullable fields are ``X | None``; keys that only some bodies carry default to ``None`` and the routes
that return them set ``response_model_exclude_unset``, so a body never gains a key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

Timestamp = str  # ISO 8601 with the UTC offset, as datetime.isoformat() writes it


# --- errors ----------------------------------------------------------------------------------------


class Error(BaseModel):
    """Every error answer: a message, and for a request that does not validate, what is wrong."""

    error: str = Field(description="what went wrong")
    problems: list[str] | None = Field(
        None, description="invalid requests only: one 'field: message' per problem"
    )


ERRORS: dict[int, str] = {
    400: "Invalid request (parameters, body) or an action the item's state does not allow",
    401: "No user: log in, or send 'Authorization: Bearer TOKEN'",
    403: "A cookie-authenticated write without the session's CSRF token",
    404: "No such item",
    413: "Larger than the upload limit (UPLOAD_MAX_BYTES)",
    415: "Not a media file (ffprobe finds no video or image)",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for routes and routers: these error codes, each with the ``Error`` body."""
    return {code: {"model": Error, "description": ERRORS[code]} for code in codes}


# --- media -----------------------------------------------------------------------------------------


class Sampling(BaseModel):
    policy: str = Field(description="fixed | keyframes | scene")
    scene_threshold: float
    max_gap_s: float
    max_reuse_s: float | None = Field(description="a whole frame read at least this often; null: MAX_REUSE_S")


class MediaProgress(BaseModel):
    frames_total: int | None = Field(description="frames to read; null until extraction has counted them")
    frames_extracted: int
    frames_ocr: int
    frames_skipped: int = Field(description="unchanged since the previous frame: its regions reused")
    frames_partial: int = Field(description="only the changed row bands read")
    fraction: float = Field(description="0-1")


class MediaItem(BaseModel):
    id: int
    name: str
    owner_id: int | None = Field(description="the user who uploaded it; null: CLI, watch folder")
    media_type: str | None = Field(description="video | image; null until probed")
    status: str = Field(description="queued | processing | finalizing | done | failed | cancelled")
    stage: str = Field(
        description="waiting (for extraction) | extracting (frames sampled, OCR reading them as they come)"
        " | reading (every frame sampled) | finalizing | done | failed | cancelled"
    )
    error: str | None
    retryable: bool = Field(
        description="failed or cancelled, and running it again can help (false for a file that is not media)"
    )
    cancellable: bool = Field(description="queued or being worked on: POST .../cancel stops it")
    notes: list[str] = Field(
        description="how it was read: spans that could not be decoded, which of several video streams"
    )
    video_stream: int | None = Field(description="the video stream asked for at upload (null: the first)")
    duration: float | None = Field(description="seconds")
    fps: float | None
    width: int | None
    height: int | None
    size_bytes: int
    sample_fps: float
    sampling: Sampling
    filters: dict[str, Any] = Field(description="the region filters set at upload (empty: keep all)")
    progress: MediaProgress
    regions: int
    tracks: int
    created_at: Timestamp | None
    started_at: Timestamp | None = Field(description="when extraction began")
    finished_at: Timestamp | None


class MediaList(BaseModel):
    items: list[MediaItem]
    total: int = Field(description="items matching the filters, on every page")
    limit: int
    offset: int


class BulkRequest(BaseModel):
    action: Literal["delete", "retry", "cancel"]
    ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1, max_length=1000)


class BulkResult(BaseModel):
    id: int
    ok: bool
    error: str | None = Field(description="why it was not done (not yours, not found, its state)")


class BulkResults(BaseModel):
    action: str
    results: list[BulkResult]


class Upload(BaseModel):
    id: int
    created: bool = Field(description="false when the same content was already known")
    note: str | None = Field(None, description="content already known: that item's state, how to retry it")
    media: MediaItem


class RegionItem(BaseModel):
    id: int
    frame_index: int
    time: float
    text: str
    raw_text: str
    confidence: float
    box: list[int] = Field(description="[x, y, w, h] in the frame's pixels")
    polygon: list[list[float]] = Field(description="four [x, y] corners, clockwise from top-left")


class Regions(BaseModel):
    media_id: int
    regions: list[RegionItem]


class TrackBox(BaseModel):
    t: float = Field(description="seconds")
    frame: int = Field(description="frame index")
    box: list[int]


class Track(BaseModel):
    id: int
    text: str
    start: float
    end: float
    confidence: float
    agreement: float = Field(description="share of the readings' weight that voted for the text")
    readings: int
    box: list[int]
    boxes: list[TrackBox] = Field(description="where the text was in each frame it was read")


class Tracks(BaseModel):
    media_id: int
    tracks: list[Track]


# --- search ----------------------------------------------------------------------------------------


class SearchHit(BaseModel):
    media_id: int
    time: float = Field(description="seconds")
    end: float | None = Field(description="track hits: until when the text stayed on screen")
    text: str
    box: list[int]
    score: float
    match: Literal["fulltext", "compact", "folded", "fuzzy"] = Field(
        description="how it matched: fulltext (words, stemmed), compact (spaces and punctuation ignored;"
        " CJK substrings), folded (OCR confusions such as l/I, 0/O, rn/m ignored), fuzzy (a known word one"
        " or two edits from a mistyped query word); scores rank them in this order"
    )
    media_name: str
    frame_id: int
    frame_index: int
    region_id: int = Field(description="region hits; 0 for track hits")
    track_id: int = Field(description="track hits; 0 for region hits")
    confidence: float
    highlights: list[tuple[int, int]] = Field(
        description="[start, end) character offsets (code points) into text of the words that matched"
    )


class SearchResults(BaseModel):
    query: str
    offset: int
    limit: int
    hits: list[SearchHit]
    notes: list[str] = Field(
        description="what the search could not do as asked (common words not searched, or ranked among"
        " the first matches only)"
    )


# --- models and jobs -------------------------------------------------------------------------------


class ModelFile(BaseModel):
    role: str = Field(description="det, rec or cls")
    name: str
    sha256: str
    path: str | None = Field(None, description="registered files: under MEDIA_ROOT (bundled files: absent)")


class Model(BaseModel):
    name: str
    kind: str
    active: bool = Field(description="the default for new media")
    description: str | None
    files: list[ModelFile]
    params: dict[str, Any]
    created_at: Timestamp | None
    media: int | None = Field(None, description="in the list: media items whose active version this is")


class Models(BaseModel):
    default: str
    models: list[Model]


class JobProgress(BaseModel):
    total: int
    done: int
    failed: int
    cancelled: int
    running: int
    queued: int
    frames_done: int
    frames_total: int
    elapsed_s: float | None
    rate_frames_s: float | None = Field(description="frames per second")
    eta_s: float | None


class Job(BaseModel):
    id: int
    model: str
    selection: dict[str, Any] = Field(description='{"media": [ids]}, {"all": true} or {"missing": true}')
    status: str = Field(description="queued | running | paused | done | failed | cancelled")
    created_at: Timestamp | None
    finished_at: Timestamp | None
    promoted_at: Timestamp | None
    progress: JobProgress


class Jobs(BaseModel):
    jobs: list[Job]


class Counts(BaseModel):
    regions: int
    tracks: int
    words: int = Field(description="distinct words")


class CompareRow(BaseModel):
    media_id: int
    name: str | None
    status: str
    old: Counts = Field(description="the version the item had before the job")
    new: Counts = Field(description="the job's version")
    only_new: list[str] = Field(description="a sample of the words only the job's version read")
    only_old: list[str]


class Compare(BaseModel):
    job_id: int
    media: list[CompareRow]


class Promoted(BaseModel):
    job_id: int
    promoted: int = Field(description="media items now on the job's version")


# --- service ---------------------------------------------------------------------------------------


class Health(BaseModel):
    database: bool
    broker: bool
    status: str = Field(description="ok | degraded")
    database_error: str | None = Field(None, description="only when the database is unreachable")
    broker_error: str | None = Field(None, description="only when the broker is unreachable")


class Unavailable(BaseModel):
    error: str
    detail: Health


class Me(BaseModel):
    id: int
    name: str
    is_admin: bool
    role: str = Field(description="admin | member")


class UserInfo(BaseModel):
    id: int
    name: str
    role: str = Field(description="admin | member")
    disabled: bool
    created_at: str | None
    live_sessions: int = Field(description="dashboard logins not ended")


class Users(BaseModel):
    users: list[UserInfo]


class Ended(BaseModel):
    ended: int = Field(description="how many logins (or locks) were ended")


class TokenInfo(BaseModel):
    id: int
    user_id: int
    name: str
    prefix: str = Field(description="the first characters, to tell tokens apart")
    created_at: str | None
    last_used_at: str | None
    revoked: bool


class Tokens(BaseModel):
    tokens: list[TokenInfo]


class NewToken(TokenInfo):
    token: str = Field(description="the token itself: shown only in this response")


# --- OpenAPI ---------------------------------------------------------------------------------------

_ERROR_REF = "#/components/schemas/Error"
_VALIDATION_COMPONENTS = ("HTTPValidationError", "ValidationError")


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Make FastAPI's OpenAPI document say what this app really answers: a request that does not
    validate gets 400 with an ``Error`` body, where FastAPI would document 422 with a shape of its own."""
    for methods in schema.get("paths", {}).values():
        for operation in methods.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None and "400" not in responses:
                responses["400"] = {
                    "description": ERRORS[400],
                    "content": {"application/json": {"schema": {"$ref": _ERROR_REF}}},
                }
            operation["responses"] = dict(sorted(responses.items()))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in _VALIDATION_COMPONENTS:
        components.pop(name, None)
    components.setdefault("Error", Error.model_json_schema(ref_template="#/components/schemas/{model}"))
    return schema
