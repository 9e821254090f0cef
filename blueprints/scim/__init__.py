"""SCIM 2.0 service provider at /api/v1/scim (RFC 7643/7644, as Okta and Entra use it).

Every request: the API key decides the organization (`g.org_id`); the organization
must be on a paid plan with sync switched on. One transaction per request: views
change and flush, `finish_request` adds the provisioning-activity row and commits
once. A failure rolls everything back, so nothing is ever half-applied.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import request
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from blueprints.scim.errors import ScimError
from core import audit
from core.authority import Actor
from core.errors import render_errors_under
from core.extensions import csrf
from core.extensions import db
from core.models import PAID_PLANS
from core.models import ApiKey
from core.models import Organization
from core.models import ScimRequest
from core.models import SsoConfig
from core.models import User
from core.models import utcnow
from core.security import hash_token
from core.security import key_problem
from core.security import note_api_key_use_by_id
from core.urls import PublicUrlMissing
from core.urls import public_url

# Where the SCIM API is served (the connector base URL pasted into Okta).
SCIM_PATH = "/api/v1/scim"

bp = Blueprint("scim", __name__, url_prefix=SCIM_PATH)
csrf.exempt(bp)

SCIM_MEDIA_TYPE = "application/scim+json"
ACCEPTED_MEDIA_TYPES = (SCIM_MEDIA_TYPE, "application/json")


def scim_base_url() -> str:
    """The SCIM connector base URL, from PUBLIC_BASE_URL or the request."""
    return public_url(SCIM_PATH)


def scim_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A SCIM JSON response."""
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        headers=headers or {},
        mimetype=SCIM_MEDIA_TYPE,
    )


def error_response(error: ScimError, headers: dict[str, str] | None = None) -> Response:
    """The SCIM error body for `error`, with the context a client needs."""
    headers = dict(headers or {})
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="Gatehouse SCIM"'
    g.scim_error = error
    return scim_response(error.body(), error.status, headers)


def note(
    resource_type: str, resource_id: int | None, label: str, changes: dict | None = None
) -> None:
    """Tell the activity log which resource this request touched and how."""
    g.scim_resource = (resource_type, resource_id, label)
    if changes:
        g.scim_changes = changes


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


@bp.before_request
def authenticate() -> Response | None:
    """Resolve the API key to the organization, or refuse with what to fix."""
    g.scim_started = time.perf_counter()
    request.max_content_length = current_app.config["SCIM_MAX_BODY_BYTES"]
    scheme, _, secret = (
        (request.headers.get("Authorization") or "").strip().partition(" ")
    )
    if scheme.lower() not in ("bearer", "api-key") or not secret.strip():
        return error_response(
            ScimError(
                401,
                "Send the API key as 'Authorization: Bearer <key>'. Create a key with "
                "the scim scope in Gatehouse under API keys.",
            )
        )
    key = load_key(secret.strip())
    personal = key is not None and key.user_id is not None
    problem = key_problem(
        found=key is not None,
        revoked=key is not None and key.revoked_at is not None,
        personal=personal,
        holder=key.holder_email if key is not None else None,
        holder_role=key.holder_role if key is not None else None,
        user_active=None if not personal else key.user_status == "active",
        org_key_role=key.role if key is not None else None,
        scopes=key.scopes.split() if key is not None else [],
        scope="scim",
    )
    if problem:
        if key is not None and problem.status == 403:
            # A real key without the authority: show it on the activity page.
            g.api_key_id, g.org_id = key.id, key.organization_id
        return error_response(ScimError(problem.status, problem.detail))
    assert key is not None
    # Plain values, not ORM objects: they survive a rollback, and loading four
    # ORM objects on every request cost more than the rest of a lookup.
    g.api_key_id, g.api_key_prefix, g.org_id = key.id, key.prefix, key.organization_id
    g.default_role = key.default_role or "member"
    # The key acts with its holder's role now (personal) or its own (organization).
    g.actor = Actor(
        "key",
        key.holder_role if personal else key.role,
        key.organization_id,
        key.user_id,
        f"api key {key.prefix}…",
        creator_id=None if personal else key.created_by_id,
    )
    if key.plan not in PAID_PLANS:
        return error_response(
            ScimError(
                403,
                f"Organization {key.org_name} is on the Free plan; SCIM provisioning "
                "needs Pro or Enterprise.",
            )
        )
    if not key.scim_enabled:
        return error_response(
            ScimError(
                403,
                "SCIM provisioning is switched off for this organization. An admin can "
                "turn on 'Sync the groups & users from your SSO provider' in Settings.",
            )
        )
    note_api_key_use_by_id(key.id, key.last_used_at)
    return None


def load_key(secret: str) -> Row | None:
    """The key for `secret` with what authentication needs, in one query."""
    if len(secret) > 200:
        return None
    return db.session.execute(
        _KEY_QUERY.where(ApiKey.secret_hash == hash_token(secret))
    ).one_or_none()


_KEY_QUERY = (
    db.select(
        ApiKey.id,
        ApiKey.organization_id,
        ApiKey.prefix,
        ApiKey.revoked_at,
        ApiKey.scopes,
        ApiKey.last_used_at,
        ApiKey.user_id,
        ApiKey.created_by_id,
        ApiKey.role,
        User.status.label("user_status"),
        User.role.label("holder_role"),
        User.email.label("holder_email"),
        Organization.name.label("org_name"),
        Organization.plan,
        SsoConfig.scim_enabled,
        SsoConfig.default_role,
    )
    .join(Organization, Organization.id == ApiKey.organization_id)
    .outerjoin(SsoConfig, SsoConfig.organization_id == ApiKey.organization_id)
    .outerjoin(User, User.id == ApiKey.user_id)
)


@bp.errorhandler(ScimError)
def handle_scim_error(error: ScimError) -> Response:
    """Roll back whatever the request changed and answer with the SCIM error."""
    db.session.rollback()
    return error_response(error)


@bp.errorhandler(HTTPException)
def handle_http_error(error: HTTPException) -> Response:
    """Turn Werkzeug errors (405, 413, ...) into SCIM errors."""
    db.session.rollback()
    allow = {k: v for k, v in error.get_headers() if k == "Allow"}
    return error_response(http_to_scim(error), allow)


@bp.errorhandler(PublicUrlMissing)
def handle_no_public_url(error: PublicUrlMissing) -> Response:
    """Resource locations need the configured public address: say so."""
    db.session.rollback()
    return error_response(ScimError(503, str(error)))


@bp.errorhandler(Exception)
def handle_unexpected(error: Exception) -> Response:
    """Last line of defence: log, roll back, answer SCIM JSON without internals."""
    current_app.logger.exception("SCIM request failed")
    db.session.rollback()
    return error_response(ScimError(500, "The server failed to handle this request."))


def _unmatched_error(error: HTTPException) -> Response:
    """A SCIM error for an HTTP error the blueprint's handlers never see (an
    unmatched URL or method under SCIM_PATH)."""
    allow = {key: value for key, value in error.get_headers() if key == "Allow"}
    return error_response(http_to_scim(error), allow)


bp.record_once(
    lambda state: render_errors_under(state.app, SCIM_PATH, _unmatched_error)
)


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


@bp.after_request
def finish_request(response: Response) -> Response:
    """Record the request in the activity log and commit the request's work once."""
    if g.get("org_id") is None:
        return response  # refused before we knew the organization: nothing to log
    error: ScimError | None = g.get("scim_error")
    if response.status_code < 400:
        try:
            _record_activity(response.status_code, None)
            _audit_change()
            db.session.commit()
            return response
        except IntegrityError:
            db.session.rollback()
            error = ScimError(
                409,
                "Another request changed the same value at the same time.",
                "uniqueness",
            )
        except (SQLAlchemyError, UnicodeError):
            db.session.rollback()
            current_app.logger.exception("SCIM commit failed")
            error = ScimError(503, "The database is busy; retry the request.")
        response = error_response(error)
    db.session.rollback()
    try:
        _record_activity(response.status_code, error)
        db.session.commit()
    except (SQLAlchemyError, UnicodeError):
        db.session.rollback()
        current_app.logger.exception("Could not record a failed SCIM request")
    return response


_ACTIVITY_INSERT = ScimRequest.__table__.insert()


def _record_activity(status: int, error: ScimError | None) -> None:
    """Insert this request's activity row with plain SQL: it runs on every request."""
    resource_type, resource_id, label = g.get("scim_resource", (None, None, None))
    started = g.get("scim_started", time.perf_counter())
    values = dict(
        created_at=utcnow(),
        organization_id=g.org_id,
        api_key_id=g.api_key_id,
        method=request.method,
        path=request.full_path.rstrip("?")[:500],
        status=status,
        scim_type=error.scim_type if error else None,
        detail=error.detail[:500] if error else None,
        resource_type=resource_type,
        resource_id=resource_id,
        resource_label=(label or "")[:400] or None,
        changes=g.get("scim_changes", {}),
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    db.session.connection().execute(_ACTIVITY_INSERT, values)


def _audit_change() -> None:
    """Write an audit event for a request that changed a user or group."""
    resource_type, resource_id, label = g.get("scim_resource", (None, None, None))
    changes = g.get("scim_changes")
    if request.method == "GET" or not resource_type or not changes:
        return
    if request.method == "POST":
        verb = "adopted" if "adopted" in changes else "created"
    elif request.method == "DELETE":
        verb = "deleted"
    elif "active" in changes:
        verb = "reactivated" if changes["active"][1] else "deactivated"
    else:
        verb = "updated"
    audit.record_now(
        f"scim.{resource_type.lower()}.{verb}",
        g.org_id,
        actor=f"api key {g.api_key_prefix}…",
        target=label or "",
        changes=changes,
    )


from blueprints.scim import discovery  # noqa: E402,F401
from blueprints.scim import groups  # noqa: E402,F401
from blueprints.scim import users  # noqa: E402,F401
