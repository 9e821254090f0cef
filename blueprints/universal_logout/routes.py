"""`POST /api/v1/okta/universal-logout`: Okta ends every session of a person.

The view only reads the request (the body with a size cap) and shapes the
answer; `core.universal_logout.receive` does the work and commits. Errors are
JSON (RFC 6750 for the bearer token), never an HTML page.
"""

from __future__ import annotations

from flask import Response
from flask import current_app
from flask import jsonify
from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import RequestEntityTooLarge

from blueprints.universal_logout import bp
from core.extensions import csrf
from core.universal_logout import ENDPOINT_PATH
from core.universal_logout import Answer
from core.universal_logout import receive

# RFC 6750 §3: what a refused bearer token is answered with.
INVALID_TOKEN = 'Bearer error="invalid_token"'
ERRORS = {
    400: "invalid_request",
    401: "invalid_token",
    403: "access_denied",
    404: "unknown_subject",
    413: "invalid_request",
    429: "too_many_requests",
    503: "temporarily_unavailable",
}


@bp.post(ENDPOINT_PATH)
@csrf.exempt
def universal_logout() -> Response:
    """Okta's Universal Logout request (see core/universal_logout.py)."""
    request.max_content_length = current_app.config["ULO_MAX_BODY_BYTES"]
    try:
        body: bytes | None = request.get_data(cache=False)
    except RequestEntityTooLarge:
        body = None
    answer = receive(
        request.headers.get("Authorization", ""), body, request.remote_addr or ""
    )
    return answer_response(answer)


def answer_response(answer: Answer) -> Response:
    """204 with no body, or a small JSON error (Okta ignores it; people read it)."""
    if answer.status == 204:
        return Response(status=204)
    response = jsonify(
        error=ERRORS.get(answer.status, "invalid_request"),
        error_description=answer.reason,
    )
    response.status_code = answer.status
    if answer.status == 401:
        response.headers["WWW-Authenticate"] = INVALID_TOKEN
    if answer.status == 503:
        response.headers["Retry-After"] = "60"
    return response


def http_error(error: HTTPException) -> Response:
    """Any other HTTP error at the endpoint (a GET, say), as JSON."""
    response = jsonify(error="invalid_request", error_description=error.description)
    response.status_code = error.code or 400
    return response
