"""App-level error pages."""

from __future__ import annotations

from flask import Flask
from flask import Response
from flask import render_template
from flask import request
from werkzeug.exceptions import HTTPException

from core.extensions import db
from core.urls import SCIM_PATH
from core.urls import PublicUrlMissing


def register_error_handlers(app: Flask) -> None:
    """Render HTML error pages; roll back a failed transaction on 500."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response | tuple[str, int]:
        if request.path.startswith(SCIM_PATH):
            # Unmatched SCIM URLs never reach the blueprint's own handlers.
            from blueprints.scim import error_response
            from blueprints.scim import http_to_scim

            allow = {k: v for k, v in error.get_headers() if k == "Allow"}
            return error_response(http_to_scim(error), allow)
        return render_template("errors/error.html", error=error), error.code or 500

    @app.errorhandler(PublicUrlMissing)
    def no_public_url(error: PublicUrlMissing) -> tuple[str, int]:
        db.session.rollback()
        return render_template("errors/no_public_url.html", message=str(error)), 503

    @app.errorhandler(500)
    def internal_error(error: Exception) -> tuple[str, int]:
        db.session.rollback()
        return render_template("errors/500.html"), 500
