"""Errors a user can act on. Each message says what is wrong and, where it can, what to do."""


class DvaOcrError(Exception):
    """Base of the errors dva-ocr raises on purpose."""


class MediaError(DvaOcrError):
    """The file is not usable media (not a video or image, unreadable, empty)."""


class NotFound(DvaOcrError):
    """A row (video, model version) asked for by id or name does not exist."""


class Forbidden(DvaOcrError):
    """The user is known but their role does not allow this (HTTP 403)."""
