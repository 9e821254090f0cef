"""The SCIM API's HTTP plumbing: where it is served, its media types, JSON in and
out, and the error handlers that answer every failure in SCIM's error format."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app
from flask import request
from werkzeug.exceptions import HTTPException

from blueprints.scim.errors import ScimError
from blueprints.scim.results import Outcome
from blueprints.scim.results import ScimResponse
from core.extensions import db
from core.urls import PublicUrlMissing
from core.urls import public_url

# Where the SCIM API is served (the connector base URL pasted into Okta).
SCIM_PATH = "/api/v1/scim"

SCIM_MEDIA_TYPE = "application/scim+json"
ACCEPTED_MEDIA_TYPES = (SCIM_MEDIA_TYPE, "application/json")


def scim_base_url() -> str:
    """The SCIM connector base URL, from PUBLIC_BASE_URL or the request."""
    return public_url(SCIM_PATH)


def scim_response(
    body: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    outcome: Outcome | None = None,
) -> ScimResponse:
    """A SCIM JSON response, with what the request did (for the activity log)."""
    response = ScimResponse(
        json.dumps(body, ensure_ascii=False),
        status=status,
        headers=headers or {},
        mimetype=SCIM_MEDIA_TYPE,
    )
    response.outcome = outcome
    return response


def no_content(outcome: Outcome) -> ScimResponse:
    """204 No Content, with what the request did."""
    response = ScimResponse(status=204)
    response.outcome = outcome
    return response


def error_response(
    error: ScimError, headers: dict[str, str] | None = None
) -> ScimResponse:
    """The SCIM error body for `error`, with the context a client needs."""
    headers = dict(headers or {})
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="Gatehouse SCIM"'
    response = scim_response(error.body(), error.status, headers, error.outcome)
    response.error = error
    return response


def read_json() -> Any:
    """The request body as JSON, after checking its media type and size.

    :raise ScimError: 415 for another media type, 400 invalidSyntax for bad JSON.
    """
    mimetype = request.mimetype
    if mimetype not in ACCEPTED_MEDIA_TYPES:
        raise ScimError(
            415,
            f"Send the body as {SCIM_MEDIA_TYPE} (or application/json),"
            f" not {mimetype or 'nothing'}.",
            "invalidSyntax",
        )
    raw = request.get_data(cache=True)
    limit = current_app.config["SCIM_MAX_BODY_BYTES"]
    if request.content_length is None and len(raw) >= limit:
        # A chunked body is cut at the limit without an error: refuse it whole.
        raise ScimError(413, f"The body is larger than {limit} bytes.", "tooMany")
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
        # "\ud800" is valid JSON but no valid text: refuse it before it is stored.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError) as exc:
        raise ScimError(400, "The body is not valid JSON.", "invalidSyntax") from exc
    return body


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def http_to_scim(error: HTTPException) -> ScimError:
    """The SCIM form of a Werkzeug HTTP error."""
    code = error.code or 500
    if code == 413:
        limit = current_app.config["SCIM_MAX_BODY_BYTES"]
        return ScimError(413, f"The body is larger than {limit} bytes.", "tooMany")
    if code == 405:
        return ScimError(405, f"{request.method} is not supported on {request.path}.")
    if code == 404:
        return ScimError(404, f"No SCIM endpoint at {request.path}.")
    return ScimError(code, error.description or error.name)


def handle_scim_error(error: ScimError) -> ScimResponse:
    """Roll back whatever the request changed and answer with the SCIM error."""
    db.session.rollback()
    return error_response(error)


def handle_http_error(error: HTTPException) -> ScimResponse:
    """Turn Werkzeug errors (405, 413, ...) into SCIM errors."""
    db.session.rollback()
    allow = {k: v for k, v in error.get_headers() if k == "Allow"}
    return error_response(http_to_scim(error), allow)


def handle_no_public_url(error: PublicUrlMissing) -> ScimResponse:
    """Resource locations need the configured public address: say so."""
    db.session.rollback()
    return error_response(ScimError(503, str(error)))


def handle_unexpected(error: Exception) -> ScimResponse:
    """Last line of defence: log, roll back, answer SCIM JSON without internals."""
    current_app.logger.exception("SCIM request failed")
    db.session.rollback()
    return error_response(ScimError(500, "The server failed to handle this request."))


def unmatched_error(error: HTTPException) -> ScimResponse:
    """A SCIM error for an HTTP error the blueprint's handlers never see (an
    unmatched URL or method under SCIM_PATH)."""
    allow = {key: value for key, value in error.get_headers() if key == "Allow"}
    return error_response(http_to_scim(error), allow)
