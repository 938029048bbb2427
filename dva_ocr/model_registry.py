"""Model versions: the rows that name which model produced which regions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dva_ocr.db.models import ModelVersion
from dva_ocr.errors import NotFound


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
        raise NotFound(f"unknown model version {name!r}; the bundled one is {MODEL_NAME!r}")
    desc = bundled_description()
    session.execute(
        insert(ModelVersion)
        .values(name=name, kind="pipeline", files={"files": desc["files"]}, params=desc["params"])
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return session.scalars(select(ModelVersion).where(ModelVersion.name == name)).one()
