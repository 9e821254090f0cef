"""Security primitives shared by every blueprint.

Passwords (argon2id), API keys (random secrets stored as SHA-256), encryption of
secrets at rest, safe redirects, role checks and the HTTP security headers.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from functools import wraps
from typing import Any
from typing import NamedTuple
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError
from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from flask import Response
from flask import abort
from flask import current_app
from flask import request
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from sqlalchemy.orm import joinedload

from core.extensions import db
from core.key_authority import key_role
from core.models import ApiKey
from core.models import User
from core.models import utcnow

F = TypeVar("F", bound=Callable[..., Any])

MIN_PASSWORD_LENGTH = 10
API_KEY_PREFIX = "gh_"
SCOPES = ("scim",)

_hasher = PasswordHasher()
# A real hash to verify against when no account matches, so that "no such user"
# takes as long as "wrong password" and does not reveal which emails exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


# -- passwords ---------------------------------------------------------------


def password_problem(password: str) -> str | None:
    """Say what is wrong with a new password, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 1000:
        return "Use at most 1000 characters."
    return None


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; always spends one argon2 verification, match or not."""
    if not password_hash:
        _safe_verify(_DUMMY_HASH, password)
        return False
    return _safe_verify(password_hash, password)


def spend_password_check(password: str) -> None:
    """Spend the time of one password check, for requests that match no account."""
    _safe_verify(_DUMMY_HASH, password)


def _safe_verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# -- API keys ----------------------------------------------------------------


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a high-entropy token (API key or session token)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_api_key_secret() -> str:
    """A fresh API key: a recognisable prefix and 256 random bits."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def find_api_key(secret: str) -> ApiKey | None:
    """The key whose secret this is (revoked or not), by its SHA-256.

    Its user comes in the same query (the refusal rules look at it).
    """
    if not secret or len(secret) > 200:
        return None
    return db.session.execute(
        db.select(ApiKey)
        .filter_by(secret_hash=hash_token(secret))
        .options(joinedload(ApiKey.user))
    ).scalar_one_or_none()


class KeyRefusal(NamedTuple):
    """Why a key was refused: 401 (not a usable credential) or 403 (not allowed)."""

    status: int
    detail: str


def api_key_problem(key: ApiKey | None, scope: str) -> KeyRefusal | None:
    """Why `key` may not be used for `scope`, in words an admin can act on; or None."""
    if key is None:
        return key_problem(found=False)
    return key_problem(
        revoked=key.revoked_at is not None,
        personal=key.user is not None,
        holder=key.user.email if key.user is not None else None,
        holder_role=key.user.role if key.user is not None else None,
        user_active=None if key.user is None else key.user.is_active,
        org_key_role=key.role,
        scopes=key.scope_list,
        scope=scope,
    )


# Why a key is refused, by kind: (HTTP status, words an admin can act on).
KEY_REFUSALS = {
    "unknown": (
        401,
        "The API key is not valid. Create a key with the scim scope in API keys.",
    ),
    "revoked": (
        401,
        "The API key was revoked. Create a new key with the scim scope.",
    ),
    "holder_inactive": (
        401,
        "The API key belongs to a deactivated member. Use an organization key.",
    ),
    "scope_missing": (
        403,
        "The API key lacks the {scope} scope. Create a key with that scope.",
    ),
    "holder_not_admin": (
        403,
        "The API key belongs to {holder}, who is not an owner or admin; only "
        "owners and admins may use the scim scope. An owner or admin can create "
        "an organization key for Okta.",
    ),
    "no_role": (
        403,
        "The API key has no role to act with. An owner or admin should create an "
        "organization key that acts as admin or owner.",
    ),
}


def key_problem(
    *,
    found: bool = True,
    revoked: bool = False,
    personal: bool = False,
    holder: str | None = None,
    holder_role: str | None = None,
    user_active: bool | None = None,
    org_key_role: str | None = None,
    scopes: list[str] | None = None,
    scope: str = "",
) -> KeyRefusal | None:
    """The refusal rules for a key, on plain values (see `api_key_problem`).

    A key never has more power than its holder: a personal key is judged by
    its holder's role and status now, an organization key by its own role.
    """
    if not found:
        kind = "unknown"
    elif revoked:
        kind = "revoked"
    elif personal and user_active is False:
        kind = "holder_inactive"
    elif scope not in (scopes or []):
        kind = "scope_missing"
    elif scope == "scim" and key_role(
        personal=personal,
        holder_role=holder_role,
        holder_active=user_active is not False,
        org_key_role=org_key_role or "",
    ) not in ("admin", "owner"):
        kind = "holder_not_admin" if personal else "no_role"
    else:
        return None
    status, words = KEY_REFUSALS[kind]
    return KeyRefusal(status, words.format(scope=scope, holder=holder or "a member"))


def note_api_key_use(key: ApiKey) -> None:
    """Record the key's use, at most once a minute (the caller commits)."""
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        key.last_used_at = now


def note_api_key_use_by_id(key_id: int, last_used_at: datetime | None) -> None:
    """`note_api_key_use` with plain SQL, for callers that hold no ORM object."""
    now = utcnow()
    if last_used_at is None or now - last_used_at > timedelta(minutes=1):
        db.session.execute(
            db.update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now)
        )


def authenticate_api_key(secret: str, scope: str) -> ApiKey | None:
    """Find the live key for `secret` that carries `scope`, note its use, commit.

    Refused (None): unknown or revoked keys, keys without the scope, and personal
    keys whose user is inactive.
    """
    key = find_api_key(secret)
    if key is None or api_key_problem(key, scope) is not None:
        return None
    note_api_key_use(key)
    db.session.commit()
    return key


# -- secrets at rest ---------------------------------------------------------


def _fernet() -> Fernet:
    digest = hashlib.sha256(
        b"gatehouse-secrets-at-rest:" + current_app.config["SECRET_KEY"].encode()
    ).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_secret(plaintext: str) -> str:
    """Encrypt a secret (e.g. an OIDC client secret) for storage."""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt_secret(ciphertext: str) -> str:
    """Decrypt a secret stored by `encrypt_secret`.

    :raise ValueError: when SECRET_KEY changed since the secret was stored.
    """
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("stored secret cannot be decrypted with SECRET_KEY") from exc


# -- redirects ---------------------------------------------------------------


def safe_next_url(target: str | None) -> str | None:
    """Return `target` if it is a path on this app, else None.

    Only a single leading "/" followed by neither "/" nor "\\" is local: browsers
    treat "//host" and "/\\host" as other hosts. Control characters are refused
    because browsers strip tabs and newlines before parsing ("/\\t/host").
    """
    if not target or len(target) > 2000:
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return None
    if not target.startswith("/") or target[1:2] in ("/", "\\"):
        return None
    return target


# -- roles -------------------------------------------------------------------


def admin_required(view: F) -> F:
    """Let owners and admins through; everyone else gets 403."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def same_org_user_or_404(user_id: int) -> User:
    """Load a user of the signed-in user's organization; any other id is a 404.

    :raise 404: if the user does not exist or belongs to another organization.
    """
    return db.one_or_404(
        db.select(User).filter_by(
            id=user_id, organization_id=current_user.organization_id
        )
    )


# -- HTTP headers and cookies ------------------------------------------------


def content_security_policy(form_targets: str = "") -> str:
    """The policy every page carries; `form_targets` adds origins a form may reach.

    Browsers apply `form-action` to the redirects after a POST too, so a page whose
    form ends in a redirect to Okta must name Okta's origin.
    """
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            f"form-action 'self' {form_targets}".strip(),
        )
    )


CONTENT_SECURITY_POLICY = content_security_policy()


def add_security_headers(response: Response) -> Response:
    """Set the security headers every response carries."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint != "static":
        headers.setdefault("Cache-Control", "no-store")
    return response


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, marked Secure whenever served over https."""

    def get_cookie_secure(self, app: Any) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure
