"""Logging for every process (CLI, web server, workers), in one place: ``configure_logging()``.

``LOG_FORMAT=json`` writes one JSON object per line (``time``, ``level``, ``logger``, ``message``, then the
context fields, then ``exc_info`` with the traceback), which log collectors read without parsing rules;
``text`` (the default) is for people. The *context* is what the work at hand is about: the web app binds
the ``request_id`` of each HTTP request (``dva_ocr.web.request_ids``); a worker binds ``task_id``,
``task``, ``queue``, ``media_id`` (``job_id`` for a reprocessing item) and the ``request_id`` that queued
the task (``workers.telemetry``). It lives in a context variable, so every line logged while the work runs
carries it, from any module, without being passed around, and one request's fields never leak into
another's.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import IO, Any

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "dva_log_context", default=_EMPTY
)

# attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged too
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_HANDLER_MARK = "_dva_ocr_handler"


def bind(**fields: Any) -> contextvars.Token[Mapping[str, Any]]:
    """Add fields (None values are left out) to the context of the work at hand; ``reset`` the token
    when that work ends."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    return _context.set(MappingProxyType(merged))


def reset(token: contextvars.Token[Mapping[str, Any]]) -> None:
    _context.reset(token)


def context() -> Mapping[str, Any]:
    """The context fields of the work at hand (empty outside a request or task)."""
    return _context.get()


class _ContextFilter(logging.Filter):
    """Copies the context onto each record when it is emitted, in the thread and task that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.dva_context = dict(_context.get())
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out = dict(getattr(record, "dva_context", {}))
    out.update((k, v) for k, v in vars(record).items() if k not in _RECORD_FIELDS and k != "dva_context")
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (tracebacks included, escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for k, v in _fields(record).items():
            out.setdefault(k, v)
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [key=value ...]``: the context after the message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        line = super().formatMessage(record)
        fields = _fields(record)
        if fields:
            line += " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]"
        return line


def configure_logging(
    level: int | str | None = None, *, fmt: str | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """Log to standard error in the format of ``LOG_FORMAT`` (``fmt`` overrides), at ``LOG_LEVEL`` if
    set, else ``level`` (default WARNING: the command line is quiet; a worker passes its ``--loglevel``,
    and uvicorn sets INFO on its own loggers). Replaces the handler an earlier call installed, so
    calling it again is harmless."""
    from dva_ocr.settings import get_settings

    try:
        s = get_settings()
        fmt, chosen = fmt or s.log_format, s.log_level or level or logging.WARNING
    except ValueError:  # a bad setting: the command that needs it says which; log as text meanwhile
        fmt, chosen = fmt or "text", level or logging.WARNING
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(chosen.upper() if isinstance(chosen, str) else chosen)
    logging.captureWarnings(True)
    return handler
