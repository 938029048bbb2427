"""The API's documentation at /docs: Swagger UI (5.x, which reads OpenAPI 3.1) served from the files of
the ``fastapi-offline`` package installed with the app (nothing from a CDN: it works offline), behind
the login like every page. Only its static files are used.
The page has no inline script (``static/docs.js`` starts Swagger UI on ``/openapi.json``), so it gets
the dashboard's Content-Security-Policy."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse

from dva_ocr.errors import NotFound
from dva_ocr.web.auth import current_user

router = APIRouter(prefix="/docs", dependencies=[Depends(current_user)], include_in_schema=False)

# the package's files the page loads, and their types
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
STATIC = files("fastapi_offline") / "static"

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} · API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon.png">
</head>
<body>
  <div id="swagger-ui" data-openapi="{openapi}"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/static/docs.js"></script>
</body>
</html>
"""


@router.get("", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    app = request.app
    return HTMLResponse(PAGE.format(title=app.title, openapi=app.openapi_url))


@router.get("/assets/{name}")
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise NotFound(f"no documentation asset {name!r}")
    headers = {"Cache-Control": "private, max-age=86400"}
    return FileResponse(str(STATIC / name), media_type=ASSETS[name], headers=headers)
