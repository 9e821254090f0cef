"""The URLs Gatehouse shows to Okta and puts in emails."""

from __future__ import annotations

from flask import current_app
from flask import has_request_context
from flask import request


def public_url(path: str = "") -> str:
    """`PUBLIC_BASE_URL` + path, or the request's own root when it is not set."""
    base = current_app.config["PUBLIC_BASE_URL"]
    if not base:
        if not has_request_context():
            raise RuntimeError(
                "Set PUBLIC_BASE_URL: outside a web request Gatehouse cannot tell "
                "the address people reach it at."
            )
        base = request.url_root.rstrip("/")
    return base + path


SCIM_PATH = "/api/v1/scim"
