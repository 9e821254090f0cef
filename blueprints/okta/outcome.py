"""The end of every Okta sign-in, OIDC or SAML: sign in, or say why not.

A test sign-in (an owner's or admin's round trip that proves the settings)
ends elsewhere: in `record_test_result`, which stores what Okta sent and never
signs anyone in, creates or links an account, or touches the session.

Every audited refusal gets a reference a person can read out on the phone,
`HHMM-<failure kind>-<4 letters>` (UTC time), shown on the refusal page and kept
in the audit row's details as `reference`, where the audit log's search finds
it (`blueprints/okta/references.py`).
"""

from __future__ import annotations

import time
from typing import Any

from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for

from blueprints.okta import references
from blueprints.okta.forms import ContinueForm
from blueprints.okta.rules import OktaProfile
from blueprints.okta.rules import Outcome
from core import audit
from core import linking
from core.extensions import db
from core.models import Organization
from core.models import User
from core.security import safe_next_url
from core.sessions import start_session
from core.sso_rollout import Sent
from core.sso_rollout import store_test_result

PENDING_KEY = "okta_pending_user"
FLOW_SECONDS = 600

REFUSALS = {
    "no_email": "Okta did not tell Gatehouse your email address. Ask your Okta "
    "administrator to include the email claim (OIDC scope 'email', or the SAML "
    "attribute statement 'email') for the Gatehouse app.",
    "email_unverified": "Okta says your email address is not verified. Verify it in "
    "Okta, then try again.",
    "identity_taken": "This Okta account is already linked to another member of the "
    "organization. Sign in with the Okta account that belongs to you, or ask an "
    "administrator.",
    "email_taken": "The Okta account you signed in with has the email of another "
    "member of this organization, so it was not linked to this account. Sign in to "
    "Okta with the account that belongs to the person this link was sent to.",
    "link_invalid": "This link belongs to another organization.",
}


def refuse(message: str, status: int = 403) -> Any:
    """The page that tells a person why Okta sign-in did not work (with the
    reference of its audit row, when the refusal was audited)."""
    return render_template(
        "okta/refused.html", message=message, reference=references.current()
    ), status


def audit_refusal(
    org: Organization | None,
    reason: str,
    *,
    method: str,
    actor: str = "anonymous",
    **details: Any,
) -> None:
    """Audit a refused Okta sign-in with its reference, and commit."""
    reference = references.remember(references.new_reference(reason, details))
    audit.record(
        "sign_in.refused",
        org,
        actor=actor,
        method=method,
        reason=reason,
        reference=reference.code,
        **details,
    )
    db.session.commit()


def audit_repeated_refusal(
    org: Organization | None,
    reason: str,
    *,
    method: str,
    key: str | None = None,
    **details: Any,
) -> None:
    """Audit a refusal anyone can repeat for free, counted, and commit.

    For refusals that need no verified answer from Okta (no sign-in in
    progress, a forged state, a flood past the throttle): one row per
    organization, reason (or `key`, when the reason carries text the client
    chose) and client address per window, whose count grows
    (core.audit.record_repeated).
    """
    address = request.remote_addr or ""
    row_key = f"{method}|{key if key is not None else reason}|{address}"
    candidate = references.new_reference(reason, details)
    audit.record_repeated(
        "sign_in.refused",
        org,
        key=row_key,
        actor="anonymous",
        method=method,
        reason=reason,
        reference=candidate.code,
        **details,
    )
    org_id = org.id if org is not None else None
    references.remember(
        references.stored_reference("sign_in.refused", org_id, row_key, candidate)
    )
    db.session.commit()


def finish(
    org: Organization,
    profile: OktaProfile,
    outcome: Outcome,
    next_url: str | None,
    *,
    method: str,
) -> Any:
    """Sign the person in, or explain why not; audit either way.

    `method` names the protocol in the audit log: "okta-oidc" or "okta-saml".
    """
    if outcome.ok:
        return _sign_in(org, profile, outcome, next_url, method=method)
    _audit_refused(org, profile, outcome, method=method)
    return _refusal_page(outcome)


def _sign_in(
    org: Organization,
    profile: OktaProfile,
    outcome: Outcome,
    next_url: str | None,
    *,
    method: str,
) -> Any:
    """Audit the sign-in, start the session (which commits) and redirect."""
    assert outcome.user is not None
    audit.record(
        "sign_in.succeeded",
        org,
        actor=outcome.user,
        method=method,
        outcome=outcome.kind,
        subject=profile.subject,
    )
    start_session(outcome.user, method, okta_issuer=profile.issuer)
    if outcome.kind == "linked":
        flash(
            "Your Okta account is now linked. Next time, sign in with Okta.",
            "success",
        )
    return redirect(safe_next_url(next_url) or url_for("members.index"))


def _audit_refused(
    org: Organization, profile: OktaProfile, outcome: Outcome, *, method: str
) -> None:
    """Audit a refused sign-in and commit.

    A refused Okta person is not (yet) the account they reached: audit them by
    what Okta asserted, with the account as the target. Only a deactivated
    member is audited as themselves (Okta vouched for them).
    """
    if outcome.kind == "inactive" and outcome.user is not None:
        actor: User | str = outcome.user
    else:
        actor = profile.email or profile.subject
    reference = references.remember(references.new_reference(outcome.kind, {}))
    audit.record(
        "sign_in.refused",
        org,
        actor=actor,
        target=outcome.user.email if outcome.user is not None else "",
        method=method,
        reason=outcome.kind,
        subject=profile.subject,
        reference=reference.code,
    )
    db.session.commit()


def _refusal_page(outcome: Outcome) -> Any:
    """The page that explains a refused sign-in (and offers the emailed link)."""
    if outcome.kind == "inactive":
        return render_template(
            "login/inactive.html", reference=references.current()
        ), 403
    if outcome.kind == "needs_confirmation":
        assert outcome.user is not None
        session[PENDING_KEY] = {"user_id": outcome.user.id, "at": time.time()}
        return render_template(
            "okta/confirm_first.html",
            email=outcome.user.email,
            delivered=linking.last_delivered_link(outcome.user),
            form=ContinueForm(),
        ), 403
    return refuse(REFUSALS.get(outcome.kind, "You could not be signed in."), 403)


def email_refusal(profile: OktaProfile) -> str | None:
    """Why a real sign-in with what Okta sent would be refused before any
    account is looked at (no usable email), or None."""
    if not profile.email:
        return REFUSALS["no_email"]
    if profile.email_verified is False:
        return REFUSALS["email_unverified"]
    return None


def record_test_result(
    org: Organization,
    protocol: str,
    tester: User,
    *,
    settings_version: int,
    profile: OktaProfile | None = None,
    refusal: str | None = None,
    name_id_format: str = "",
    attributes: dict[str, list[str]] | None = None,
) -> Any:
    """The end of every test sign-in: keep its result, show it on Settings.

    `profile` is what a verified answer said (None when it could not be
    verified, with `refusal` saying why). Only the test result is written:
    nobody is signed in, no account is made or linked, and the session (the
    tester's, or none at a SAML ACS) is not touched.
    """
    if refusal is None:
        refusal = email_refusal(profile) if profile is not None else "No answer."
    store_test_result(
        org,
        protocol,
        settings_version=settings_version,
        tester=tester,
        sent=Sent(
            subject=profile.subject if profile else "",
            email=(profile.email or "") if profile else "",
            given_name=profile.given_name if profile else "",
            family_name=profile.family_name if profile else "",
            name_id_format=name_id_format or "",
            attributes=attributes or {},
        ),
        refusal=refusal,
    )
    # No flash: a SAML answer arrives without the session cookie, and writing
    # to the session there would replace (sign out) the tester's session.
    return redirect(
        url_for("settings.okta", protocol=protocol, tested=1) + "#test-result"
    )
