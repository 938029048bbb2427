"""Bounded request parameters: ids and offsets within PostgreSQL's integer range, so an id of 2^31
or more is a 400 that says so, never a 500 from the database."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

INT4_MAX = 2**31 - 1

Id = Annotated[int, Path(ge=1, le=INT4_MAX, description="an id")]
Index = Annotated[int, Path(ge=0, le=INT4_MAX, description="a frame index")]


def media_filter(description: str = "only this media item") -> int | None:
    return Query(None, ge=1, le=INT4_MAX, description=description)


def offset(maximum: int = INT4_MAX) -> int:
    return Query(0, ge=0, le=maximum)
