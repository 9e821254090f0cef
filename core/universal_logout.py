"""Okta Universal Logout: Okta asks Gatehouse to end every session of a person.

`receive` is the unit of work behind `POST /api/v1/okta/universal-logout`:
throttle, token (`core.universal_logout_token`), the organization's switch,
the subject identifier in the body (RFC 9493, resolved inside that
organization only), then the logout itself, in one transaction: every session
of the person ends, their next sign-in must go through Okta, their personal
API keys are revoked when the organization asks for it, and an audit event
records it. Every request whose token names an organization leaves its result
in that organization's `UniversalLogoutAttempt` (Okta ignores our answer, so
that row is how an admin sees failures); a request whose signature did not
verify goes to `UniversalLogoutUnverified` instead, so that nobody but Okta
writes Okta's result. Only requests refused before a valid signature count
against the client address (Okta calls from addresses shared by all its
customers). It commits once, whatever happened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from flask import current_app
from sqlalchemy.exc import IntegrityError

from core import audit
from core import throttle
from core.extensions import db
from core.linking import current_issuer
from core.models import ApiKey
from core.models import OktaIdentity
from core.models import Organization
from core.models import SignInFailure
from core.models import UniversalLogoutConfig
from core.models import UniversalLogoutJti
from core.models import User
from core.models import email_fold
from core.models import utcnow
from core.sessions import revoke_all_sessions
from core.sso import sso_available
from core.universal_logout_rows import note_unverified
from core.universal_logout_rows import note_verified
from core.universal_logout_token import KeysUnavailable
from core.universal_logout_token import TokenRefused
from core.universal_logout_token import Unverified
from core.universal_logout_token import Verified
from core.universal_logout_token import bearer_token
from core.universal_logout_token import clean
from core.universal_logout_token import read_unverified
from core.universal_logout_token import verify
from core.urls import PublicUrlMissing
from core.urls import public_url

ENDPOINT_PATH = "/api/v1/okta/universal-logout"
ACTOR = "okta (Universal Logout)"


class Refused(Exception):
    """A request answered with `status`; `reason` is what the admin reads."""

    def __init__(
        self,
        status: int,
        reason: str,
        organization: Organization | None = None,
        *,
        verified: Verified | None = None,
        subject: str = "",
        signed: bool = False,
        candidates: tuple[Organization, ...] = (),
    ) -> None:
        super().__init__(reason)
        self.signed = signed or verified is not None
        self.status = status
        self.reason = reason
        self.organization = organization
        # Every organization the request is recorded for.
        self.organizations = candidates or ((organization,) if organization else ())
        self.verified = verified
        self.subject = subject


@dataclass(frozen=True)
class Answer:
    """What the endpoint answers (the body repeats `reason`, Okta ignores it)."""

    status: int
    reason: str = ""


def endpoint_url() -> str:
    """The endpoint's public URL: what Okta is told, and the only `aud` accepted.

    :raise PublicUrlMissing: when no public address is configured.
    """
    return public_url(ENDPOINT_PATH)


def _throttle_key(address: str) -> str:
    return "universal-logout:" + address


def throttled(address: str) -> bool:
    """Whether `address` sent too many refused requests lately."""
    limit = current_app.config["ULO_MAX_FAILURES_PER_ADDRESS"]
    return throttle.recent_failures(_throttle_key(address)) >= limit


def receive(authorization: str, body: bytes | None, address: str) -> Answer:
    """Handle one Universal Logout request; commit. `body` None: too large."""
    if throttled(address):
        return Answer(429, "Too many refused requests from this address; wait.")
    try:
        answer = _log_out(authorization, body)
    except Refused as refused:
        return _refuse(refused, address)
    try:
        db.session.commit()
    except IntegrityError:  # another server spent the same jti meanwhile
        db.session.rollback()
        replay = Refused(401, "The token was used already (replay).", signed=True)
        return _refuse(replay, address)
    return answer


def _refuse(refused: Refused, address: str) -> Answer:
    """Record a refusal (the attempt row, the throttle, the jti); commit."""
    db.session.rollback()
    if refused.verified is not None:
        _spend(refused.verified)
    for org in refused.organizations:
        if refused.signed:
            status, reason = refused.status, refused.reason
            note_verified(org, status, reason, refused.verified, refused.subject)
        else:
            note_unverified(org, refused.status, refused.reason)
    if refused.verified is not None:
        audit.record(
            "universal_logout.refused",
            refused.verified.organization,
            actor=ACTOR,
            target=refused.subject,
            reason=refused.reason,
            jti=refused.verified.jti,
        )
    if not refused.signed:  # a valid token's outcome never counts
        db.session.add(SignInFailure(key=_throttle_key(address), created_at=utcnow()))
    try:
        db.session.commit()
    except IntegrityError:  # the jti was spent by another server meanwhile
        db.session.rollback()
    return Answer(refused.status, refused.reason)


def _log_out(authorization: str, body: bytes | None) -> Answer:
    """Everything but the commit. :raise Refused:"""
    verified = _verified_token(authorization, body)
    org = verified.organization
    config = db.session.execute(
        db.select(UniversalLogoutConfig).filter_by(organization_id=org.id)
    ).scalar_one_or_none()
    problem = off_problem(org, config)
    if problem:
        raise Refused(403, problem, org, verified=verified)
    assert config is not None
    kind, values = read_subject(body or b"", verified, org)
    label = f"{kind} {' '.join(values)}"[:400]
    user = find_subject(org, kind, values)
    if user is None:
        raise Refused(
            404, "No such person here.", org, verified=verified, subject=label
        )
    _spend(verified)
    ended = end_everything(user, config, verified.jti)
    note_verified(org, 204, "", verified, label, ended)
    return Answer(204)


def _verified_token(authorization: str, body: bytes | None) -> Verified:
    """The checked token, unseen before. :raise Refused:"""
    unverified: Unverified | None = None
    try:
        unverified = read_unverified(bearer_token(authorization))
        audience = endpoint_url()
        verified = verify(unverified, audience)
    except KeysUnavailable as exc:
        raise Refused(503, exc.reason, candidates=exc.candidates) from exc
    except TokenRefused as exc:
        raise Refused(
            401, exc.reason, signed=exc.signed, candidates=exc.candidates
        ) from exc
    except PublicUrlMissing as exc:
        raise Refused(401, "Gatehouse's public address is not configured.") from exc
    if body is None:
        raise Refused(
            413, "The request body is too large.", verified.organization, signed=True
        )
    seen = db.session.execute(
        db.select(UniversalLogoutJti.id).filter_by(
            organization_id=verified.organization.id, jti=verified.jti
        )
    ).first()
    if seen is not None:
        raise Refused(
            401,
            "The token was used already (replay).",
            verified.organization,
            signed=True,
        )
    return verified


def off_problem(org: Organization, config: UniversalLogoutConfig | None) -> str | None:
    """Why `org` does not accept Universal Logout right now, or None."""
    if not org.has_paid_plan:
        return "Universal Logout needs the Pro or Enterprise plan."
    if config is None or not config.enabled:
        return "Universal Logout is off for this organization."
    if not sso_available(org):
        return "Okta sign-in is off for this organization."
    return None


def read_subject(
    body: bytes, verified: Verified, org: Organization
) -> tuple[str, tuple[str, ...]]:
    """The RFC 9493 subject identifier of the body: ("email", (email,)) or
    ("iss_sub", (iss, sub)). :raise Refused: 400 for anything else."""

    def bad(reason: str) -> Refused:
        return Refused(400, reason, org, verified=verified)

    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise bad("The body is not JSON.") from exc
    if not isinstance(data, dict):
        raise bad("The body is not a JSON object.")
    present = [name for name in ("sub_id", "subject") if name in data]
    if len(present) != 1:
        raise bad('The body must carry exactly one of "sub_id" and "subject".')
    subject = data[present[0]]
    if not isinstance(subject, dict):
        raise bad("The subject identifier is not an object.")
    kind = subject.get("format")
    fields = SUBJECT_FORMATS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise bad("Unknown subject identifier format (email or iss_sub only).")
    values = tuple(subject.get(name) for name in fields)
    if not all(clean(value, 320) for value in values):
        raise bad(f"The subject identifier needs {' and '.join(fields)}.")
    return str(kind), values  # type: ignore[return-value]


# RFC 9493 formats accepted, and the members each needs.
SUBJECT_FORMATS: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "iss_sub": ("iss", "sub"),
}


def find_subject(org: Organization, kind: str, values: tuple[str, ...]) -> User | None:
    """The person `values` names in `org`, or None.

    email: the account with that email. iss_sub: the account linked to that
    Okta subject at the organization's current Okta, else the SCIM account
    whose externalId it is (Okta's user id); `iss` must be the organization's
    Okta base URL.
    """
    base = db.select(User).filter_by(organization_id=org.id)
    if kind == "email":
        return db.session.execute(
            base.filter_by(email_key=email_fold(values[0]))
        ).scalar_one_or_none()
    issuer, subject = values
    config = org.sso_config
    if config is None or issuer not in _okta_issuers(org):
        return None
    linked = (
        db.session.execute(
            base.join(OktaIdentity, OktaIdentity.user_id == User.id).where(
                OktaIdentity.organization_id == org.id,
                OktaIdentity.subject == subject,
                OktaIdentity.issuer == (current_issuer(config) or ""),
            )
        )
        .scalars()
        .first()
    )
    if linked is not None:
        return linked
    # externalId is not unique: when several share it, nobody is named.
    scim = db.session.execute(base.filter_by(external_id=subject).limit(2))
    found = scim.scalars().all()
    return found[0] if len(found) == 1 else None


def _okta_issuers(org: Organization) -> set[str]:
    """The Okta base URLs that vouch for SCIM ids of `org`."""
    config = org.sso_config
    found = {config.oidc_issuer or ""} if config is not None else set()
    ulo = db.session.execute(
        db.select(UniversalLogoutConfig.saml_okta_url).filter_by(organization_id=org.id)
    ).scalar_one_or_none()
    return {value for value in (*found, ulo or "") if value}


def end_everything(user: User, config: UniversalLogoutConfig, jti: str) -> int:
    """End every session of `user`, require Okta next, maybe revoke their
    personal keys, audit (not committed). Returns how many sessions ended."""
    ended = revoke_all_sessions(user)
    user.okta_required_after_logout = True
    keys = 0
    if config.revoke_personal_keys:
        keys = db.session.execute(
            db.update(ApiKey)
            .filter_by(user_id=user.id, revoked_at=None)
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
    audit.record(
        "universal_logout.accepted",
        user.organization_id,
        actor=ACTOR,
        target=user.email,
        sessions_ended=ended,
        personal_keys_revoked=keys,
        jti=jti,
    )
    return ended


def _spend(verified: Verified) -> None:
    """Keep the token's jti until it expires (not committed)."""
    skew = current_app.config["ULO_CLOCK_SKEW_SECONDS"]
    expires = datetime.fromtimestamp(verified.expires_at, UTC) + timedelta(seconds=skew)
    db.session.add(
        UniversalLogoutJti(
            organization_id=verified.organization.id,
            jti=verified.jti,
            expires_at=expires,
        )
    )


def okta_required(user: User) -> bool:
    """Whether a password sign-in of `user` must go through Okta instead:
    Okta logged them out, and Okta sign-in is still there to use (turned
    off, the demand would lock them out for good)."""
    return bool(user.okta_required_after_logout) and sso_available(user.organization)


def refuse_password_sign_in(user: User) -> None:
    """Audit a password sign-in refused because Okta logged the person out; commit."""
    audit.record(
        "sign_in.refused",
        user.organization_id,
        actor=user,
        reason="okta sign-in required after Universal Logout",
    )
    db.session.commit()
