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

# What a 403 says when the view gave no reason of its own: what the page needs,
# by endpoint first, then by blueprint (area of the app).
FORBIDDEN_BY_ENDPOINT = {
    "settings.rename": "Only owners can rename the organization.",
    "settings.provisioning_activity": (
        "Only owners and admins can open Provisioning activity."
    ),
    "api_keys.create": (
        "Your role cannot create API keys with the scopes this form offers."
    ),
}
FORBIDDEN_BY_AREA = {
    "settings": "Only owners and admins can open Settings.",
    "audit": "Only owners and admins can read the audit log.",
    "members": "Only owners and admins can add, change or remove members.",
    "groups": "Only owners and admins can change groups.",
    "api_keys": "Your role cannot do this with API keys.",
}
FORBIDDEN_DEFAULT = "Your role in this organization does not allow this."
NOT_FOUND = "There is no page at this address, or it belongs to another organization."


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
        if error.code == 403:
            page = render_template("errors/403.html", reason=forbidden_reason(error))
            return page, 403
        if error.code == 404:
            return render_template("errors/404.html", reason=NOT_FOUND), 404
        return render_template("errors/error.html", error=error), error.code or 500

    @app.errorhandler(PublicUrlMissing)
    def no_public_url(error: PublicUrlMissing) -> tuple[str, int]:
        db.session.rollback()
        return render_template("errors/no_public_url.html", message=str(error)), 503

    @app.errorhandler(500)
    def internal_error(error: Exception) -> tuple[str, int]:
        db.session.rollback()
        return render_template("errors/500.html"), 500


def forbidden_reason(error: HTTPException) -> str:
    """The sentence a 403 page shows: the view's own reason when it gave one,
    else what this area of the app needs."""
    if error.description and error.description != type(error).description:
        return str(error.description)
    endpoint = request.endpoint or ""
    if endpoint in FORBIDDEN_BY_ENDPOINT:
        return FORBIDDEN_BY_ENDPOINT[endpoint]
    return FORBIDDEN_BY_AREA.get(request.blueprint or "", FORBIDDEN_DEFAULT)
