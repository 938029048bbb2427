"""Model versions: the rows that name which model produced which regions, and engines built from them.

The bundled PP-OCRv4 pipeline registers itself on first use. Custom models (``models add``) keep
their ONNX files under ``MEDIA_ROOT/models/`` (shared by every worker), named by content hash; a
row's ``files`` list names each role's file with its sha256, and the engine refuses a file that
changed since it was registered.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from dva_ocr.db.tables import ModelVersion, Video
from dva_ocr.errors import DvaOcrError, NotFound
from dva_ocr.ocr.spec import MODEL_NAME, file_sha256
from dva_ocr.settings import get_settings

if TYPE_CHECKING:  # the engine itself is imported where one is built: it loads cv2 and shapely
    from dva_ocr.ocr import OcrEngine


def bundled_description() -> dict:
    """The bundled PP-OCRv4 pipeline as a default OcrEngine runs it (hashes the files; loads no model)."""
    from dva_ocr.ocr.engine import engine_spec

    return engine_spec().describe()


def get_or_create_model_version(session: Session, name: str) -> ModelVersion:
    mv = session.scalar(select(ModelVersion).where(ModelVersion.name == name))
    if mv is not None:
        return mv
    if name != MODEL_NAME:
        known = ", ".join(session.scalars(select(ModelVersion.name).order_by(ModelVersion.id))) or MODEL_NAME
        raise NotFound(f"unknown model version {name!r}; registered: {known}")
    desc = bundled_description()
    session.execute(
        insert(ModelVersion)
        .values(name=name, kind="pipeline", files={"files": desc["files"]}, params=desc["params"])
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return session.scalars(select(ModelVersion).where(ModelVersion.name == name)).one()


def model_files(mv_files: dict[str, Any]) -> dict[str, Path]:
    """Role -> path of a row's own files (bundled files have no path: the engine finds them)."""
    root = get_settings().media_root
    return {f["role"]: root / f["path"] for f in mv_files.get("files", []) if f.get("path")}


def engine_for(name: str, files: dict[str, Any], **engine_kwargs: Any) -> OcrEngine:
    """Build the engine a model version row describes; a file changed since registration is an error."""
    from dva_ocr.ocr import OcrEngine

    paths = model_files(files)
    want = {f["role"]: f["sha256"] for f in files.get("files", [])}
    for role, path in paths.items():
        if not path.is_file():
            raise DvaOcrError(f"model {name!r}: its {role} file is missing: {path}")
        have = file_sha256(path)
        if role in want and have != want[role]:
            raise DvaOcrError(
                f"model {name!r}: {role} file {path} does not match the registered sha256 "
                f"({have[:12]} != {want[role][:12]}); re-register it with `models add`"
            )
    return OcrEngine(name=name, model_files=paths, **engine_kwargs)


def default_model_name(session: Session) -> str:
    """The model version new media get: OCR_MODEL when set, else the active one, else the bundled one."""
    return (
        get_settings().ocr_model
        or session.scalar(select(ModelVersion.name).where(ModelVersion.active.is_(True)))
        or MODEL_NAME
    )


def load_engine(name: str | None = None, **engine_kwargs: Any) -> OcrEngine:
    """An OcrEngine for the named model version (default: OCR_MODEL, else the bundled one, which needs
    no database)."""
    from dva_ocr.ocr import OcrEngine

    name = name or get_settings().ocr_model or MODEL_NAME
    if name == MODEL_NAME:
        return OcrEngine(**engine_kwargs)
    from dva_ocr.db.session import session_scope

    try:
        with session_scope() as s:
            mv = get_or_create_model_version(s, name)
            files = dict(mv.files)
    except OperationalError as exc:
        raise DvaOcrError(
            f"model {name!r} is looked up in the database, which is unreachable: {exc}"
        ) from exc
    return engine_for(name, files, **engine_kwargs)


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


def add_model(
    session: Session, name: str, *, rec: Path, det: Path | None = None, description: str = ""
) -> ModelVersion:
    """Register a pipeline of a custom recogniser (and optionally detector) behind the bundled rest.

    The files are checked (they load, the recogniser has a character set and reads a test line),
    then copied under MEDIA_ROOT/models/ by content hash, where every worker finds them."""
    if not NAME_RE.match(name):
        raise DvaOcrError(f"model name {name!r}: use letters, digits, '.', '_' or '-' (at most 100)")
    if name == MODEL_NAME or session.scalar(select(ModelVersion.id).where(ModelVersion.name == name)):
        raise DvaOcrError(f"a model version named {name!r} already exists; versions are never overwritten")
    given = {"rec": rec} | ({"det": det} if det else {})
    for role, path in given.items():
        if not Path(path).is_file():
            raise DvaOcrError(f"{role} model file not found: {path}")
    from dva_ocr.ocr import OcrEngine

    try:
        engine = OcrEngine(name=name, model_files={k: Path(v) for k, v in given.items()})
    except Exception as exc:
        raise DvaOcrError(f"model {name!r} does not load: {type(exc).__name__}: {exc}") from exc
    _smoke_test(engine, name)
    root = get_settings().media_root
    files = []
    for role, path in given.items():
        digest = file_sha256(Path(path))
        dest = root / "models" / f"{digest}.onnx"
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
    """Run the recogniser on one blank line: a model with the wrong inputs or outputs fails here."""
    import numpy as np

    try:
        engine.recognizer.recognise([np.full((32, 128, 3), 255, np.uint8)])
    except Exception as exc:
        raise DvaOcrError(
            f"model {name!r}: the recogniser does not run on a text line ({type(exc).__name__}: {exc}); "
            "it must take float32 N x 3 x H x W and give N x T x classes (see README: custom recognisers)"
        ) from exc
