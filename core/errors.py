"""App-level error pages.

An HTTP error outside any blueprint (an unmatched URL, a 405) is an HTML page,
unless a part of the app has claimed its URLs with `render_errors_under`: the
SCIM API answers its clients in SCIM's error format, for instance. So this
module knows no blueprint, and each part brings its own error format.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask import Response
from flask import render_template
from flask import request
from werkzeug.exceptions import HTTPException

from core.extensions import db
from core.urls import PublicUrlMissing

ErrorRenderer = Callable[[HTTPException], Response]
_RENDERERS = "gatehouse.error_renderers"


def render_errors_under(app: Flask, prefix: str, renderer: ErrorRenderer) -> None:
    """Answer HTTP errors of URLs under `prefix` with `renderer`, not HTML (for
    the errors that never reach the blueprint's own handlers)."""
    app.extensions.setdefault(_RENDERERS, {})[prefix] = renderer


def register_error_handlers(app: Flask) -> None:
    """Render HTML error pages; roll back a failed transaction on 500."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response | tuple[str, int]:
        for prefix, renderer in app.extensions.get(_RENDERERS, {}).items():
            if request.path == prefix or request.path.startswith(prefix + "/"):
                return renderer(error)
        return render_template("errors/error.html", error=error), error.code or 500

    @app.errorhandler(PublicUrlMissing)
    def no_public_url(error: PublicUrlMissing) -> tuple[str, int]:
        db.session.rollback()
        return render_template("errors/no_public_url.html", message=str(error)), 503

    @app.errorhandler(500)
    def internal_error(error: Exception) -> tuple[str, int]:
        db.session.rollback()
        return render_template("errors/500.html"), 500
