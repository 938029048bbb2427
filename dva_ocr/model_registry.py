"""Model versions: the rows that name which model produced which regions, and engines built from them.

The bundled PP-OCRv4 pipeline registers itself on first use. Custom models (``models add``) keep
their ONNX files under ``MEDIA_ROOT/models/`` (shared by every worker), named by content hash; a
row's ``files`` list names each role's file with its sha256, and the engine refuses a file that
changed since it was registered.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dva_ocr.db.models import ModelVersion
from dva_ocr.errors import DvaOcrError, NotFound
from dva_ocr.settings import get_settings

if TYPE_CHECKING:
    from dva_ocr.ocr import OcrEngine


def bundled_description() -> dict:
    """The bundled PP-OCRv4 pipeline as a default OcrEngine runs it (hashes the files; loads no model)."""
    from dva_ocr.ocr.engine import engine_spec

    return engine_spec().describe()


def get_or_create_model_version(session: Session, name: str) -> ModelVersion:
    mv = session.scalar(select(ModelVersion).where(ModelVersion.name == name))
    if mv is not None:
        return mv
    from dva_ocr.ocr.models import MODEL_NAME

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
    for role, path in paths.items():
        if not path.is_file():
            raise DvaOcrError(f"model {name!r}: its {role} file is missing: {path}")
    engine = OcrEngine(name=name, model_files=paths, **engine_kwargs)
    want = {f["role"]: f["sha256"] for f in files.get("files", [])}
    for f in engine.model_spec.files:
        if f.role in want and want[f.role] != f.sha256:
            raise DvaOcrError(
                f"model {name!r}: {f.role} file {f.path} does not match the registered sha256 "
                f"({f.sha256[:12]} != {want[f.role][:12]}); re-register it with `models add`"
            )
    return engine


def load_engine(name: str | None = None, **engine_kwargs: Any) -> OcrEngine:
    """An OcrEngine for the named model version (default: OCR_MODEL). The bundled one needs no database."""
    from dva_ocr.ocr import OcrEngine
    from dva_ocr.ocr.models import MODEL_NAME

    name = name or get_settings().ocr_model
    if name == MODEL_NAME:
        return OcrEngine(**engine_kwargs)
    from dva_ocr.db.session import session_scope

    with session_scope() as s:
        mv = get_or_create_model_version(s, name)
        files = dict(mv.files)
    return engine_for(name, files, **engine_kwargs)
