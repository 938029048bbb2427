"""Dashboard pages (Jinja templates). Every page needs a user except /login.

Pages that only show live state (media list, upload, media page) render a shell whose scripts read the
REST API; search, jobs and settings are rendered on the server. One module per page (``login``,
``library`` (list and upload), ``media``, ``search``, ``jobs``, ``settings``), what they share in
``common``; ``router`` holds them all.
"""

from __future__ import annotations

from fastapi import APIRouter

from dva_ocr.web.pages import jobs, library, login, media, search, settings

router = APIRouter()
router.include_router(login.public)
for _page in (login, library, media, search, jobs, settings):
    router.include_router(_page.router)

__all__ = ["router"]
