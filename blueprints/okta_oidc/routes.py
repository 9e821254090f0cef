"""Views of the okta_oidc blueprint: start, callback, and the emailed link."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from flask import make_response
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_required
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from blueprints.okta_oidc import bp
from blueprints.okta_oidc.client import client_name
from blueprints.okta_oidc.client import oidc_client_for
from blueprints.okta_oidc.forms import ContinueForm
from blueprints.okta_oidc.outcome import FLOW_SECONDS
from blueprints.okta_oidc.outcome import PENDING_KEY
from blueprints.okta_oidc.outcome import audit_refusal
from blueprints.okta_oidc.outcome import audit_repeated_refusal
from blueprints.okta_oidc.outcome import finish
from blueprints.okta_oidc.outcome import refuse
from blueprints.okta_saml.flow import start_saml
from core import linking
from core.extensions import db
from core.linking import OktaProfile
from core.models import LinkToken
from core.models import Organization
from core.models import User
from core.okta import OktaError
from core.outbound import OutboundError
from core.provisioning import organizations
from core.security import content_security_policy
from core.security import safe_next_url
from core.sso import sso_available
from core.urls import MISSING_HELP
from core.urls import public_base_url
from core.urls import public_url

FLOW_KEY = "okta_flow"

# What Okta's `error` values mean for the person in front of the screen.
OKTA_ERRORS = {
    "access_denied": (
        "Okta did not let you into Gatehouse. Usually this means your Okta account is "
        "not assigned to the Gatehouse app: ask your Okta administrator to assign you."
    ),
    "login_required": "Okta asked you to sign in again. Start over.",
    "consent_required": (
        "Okta needs your consent for Gatehouse. Ask your Okta administrator."
    ),
    "invalid_client": (
        "Okta did not recognise Gatehouse's client ID. Ask your Gatehouse "
        "administrator to check the client ID in Settings."
    ),
}


def start_flow(
    org: Organization,
    next_url: str | None,
    link_token: LinkToken | None = None,
    *,
    link_user: User | None = None,
) -> Response:
    """Remember what this sign-in is for and send the browser to Okta.

    `link_token` (the emailed link) or `link_user` (the signed-in member's own
    "Link my Okta account") names the account to bind. SAML organizations keep
    all this server-side instead (see okta_saml.flow).
    """
    config = org.sso_config
    assert config is not None
    if public_base_url() is None:
        return refuse(MISSING_HELP, 503)
    if config.protocol == "saml":
        return start_saml(org, next_url, link_token, link_user)
    session[FLOW_KEY] = {
        "org_id": org.id,
        "version": config.version,
        "next": safe_next_url(next_url) or "",
        "link": link_token.token_hash if link_token else None,
        "self": link_user.id if link_user is not None else None,
        "started": time.time(),
    }
    try:
        client = oidc_client_for(config)
        return client.authorize_redirect(
            public_url(url_for("okta_oidc.callback")), nonce=secrets.token_urlsafe(24)
        )
    except (
        OktaError,
        OutboundError,
        requests.RequestException,
        AuthlibBaseError,
        ValueError,
        RecursionError,
    ):
        audit_repeated_refusal(org, "Okta metadata unreachable", method="okta-oidc")
        return refuse(
            "Gatehouse could not reach your organization's Okta. Try again in a "
            "moment; if it keeps failing, ask your administrator to check the "
            "metadata URL.",
            502,
        )


@bp.get("/sso/okta")
def start() -> Any:
    """Start Okta sign-in for the organization named in `org`.

    Outside scripts and bookmarks rely on this URL.
    """
    org = organizations.find_organization(request.args.get("org", "")[:100])
    if not sso_available(org):
        return render_template("login/sso_unavailable.html"), 404
    assert org is not None
    return start_flow(org, request.args.get("next"))


def _audit_refusal(
    org: Organization | None, reason: str, actor: str = "anonymous", **details: Any
) -> None:
    audit_refusal(org, reason, method="okta-oidc", actor=actor, **details)


def _audit_repeated(
    org: Organization | None, reason: str, key: str | None = None, **details: Any
) -> None:
    """A callback refusal that needs no verified answer from Okta: counted.

    Anyone can repeat these for free (a bare GET, or a flow they started
    themselves), so they are one row per reason and client address per window.
    """
    audit_repeated_refusal(org, reason, method="okta-oidc", key=key, **details)


@bp.get("/okta/callback")
def callback() -> Any:
    """Okta's redirect back: verify everything, then apply the sign-in rules."""
    flow = session.pop(FLOW_KEY, None)
    org = db.session.get(Organization, flow["org_id"]) if flow else None
    if (
        flow is None
        or org is None
        or time.time() - flow.get("started", 0) > FLOW_SECONDS
    ):
        _audit_repeated(
            org, "no sign-in in progress (expired, replayed or another browser)"
        )
        return refuse(
            "This sign-in has expired or was already used. Start again from the "
            "sign-in page.",
            400,
        )
    config = org.sso_config
    if not sso_available(org) or config is None or config.version != flow["version"]:
        _audit_repeated(org, "Okta settings changed during sign-in")
        return refuse("Your organization's Okta settings changed. Start again.", 400)
    state = request.args.get("state", "")
    if f"_state_{client_name(config)}_{state}" not in session:
        # Not the answer to the sign-in this browser started (forged or stale):
        # leave that sign-in alone and refuse this request.
        session[FLOW_KEY] = flow
        if "error" in request.args and "state" not in request.args:
            # An error without any state (RFC 6749 asks for it; some servers
            # leave it out) is still worth explaining; it spends nothing.
            return okta_error_page(org)
        _audit_repeated(org, "state does not match the sign-in in progress")
        return refuse(
            "This answer does not belong to the sign-in you started. Start again "
            "from the sign-in page.",
            403,
        )
    if "error" in request.args:
        return okta_error_page(org)
    try:
        client = oidc_client_for(config)
        metadata = client.load_server_metadata()
        issuer = metadata["issuer"]
        # RFC 9207: when Okta names itself in the redirect, it must be our issuer.
        if "iss" in request.args and request.args["iss"] != issuer:
            raise AuthlibBaseError(error="issuer_mismatch")
        token = client.authorize_access_token(
            claims_options={
                "iss": {"essential": True, "value": issuer},
                "aud": {"essential": True, "value": config.oidc_client_id},
                "exp": {"essential": True},
                "iat": {"essential": True},
                "sub": {"essential": True},
            }
        )
        claims = dict(token.get("userinfo") or {})
        if not claims.get("sub"):
            raise AuthlibBaseError(error="missing_id_token")
        if not claims.get("email"):
            extra = client.userinfo(token=token)
            if extra.get("sub") == claims["sub"]:
                claims = {**extra, **claims}
    except (
        AuthlibBaseError,
        JoseError,
        OktaError,
        OutboundError,
        requests.RequestException,
        KeyError,
        ValueError,
        RecursionError,
    ) as exc:
        # Also free to repeat: a made-up code with the state of a sign-in
        # the client started itself. The row keeps the first error.
        _audit_repeated(org, "Okta's answer failed verification", error=str(exc)[:300])
        return refuse(
            "Okta's answer could not be verified, so you were not signed in. Start "
            "again; if it keeps happening, ask your administrator to check the Okta "
            "settings (client ID, secret and metadata URL).",
            403,
        )
    profile = OktaProfile(
        issuer=str(claims.get("iss") or issuer),
        subject=str(claims["sub"]),
        email=claims.get("email"),
        email_verified=claims.get("email_verified"),
        given_name=str(claims.get("given_name") or "")[:200],
        family_name=str(claims.get("family_name") or "")[:200],
        display_name=str(claims.get("name") or "")[:400],
    )
    link_user = None
    if flow.get("link"):
        link_token = linking.find_link_token_by_hash(flow["link"])
        if link_token is None:
            _audit_refusal(
                org, "link expired or already used", actor=profile.email or ""
            )
            return refuse("This link has expired or was already used.", 400)
        link_user = link_token.user
    elif flow.get("self"):
        # "Link my Okta account": only for the member who is still signed in
        # in this browser (the flow lives in their session).
        if not current_user.is_authenticated or current_user.id != flow["self"]:
            _audit_refusal(org, "own-account link without that member's session")
            return refuse("Sign in again, then link your Okta account.", 403)
        link_user = current_user._get_current_object()
    outcome = linking.resolve_sign_in(org, "oidc", profile, link_user)
    return finish(org, profile, outcome, flow.get("next"), method="okta-oidc")


def okta_error_page(org: Organization) -> Any:
    """Okta answered with an error (`error=...`): say what to ask, and audit it."""
    code = request.args.get("error", "")[:100]
    # Anyone can send an error to the callback: counted per code we know (any
    # other code shares one row, or each made-up code would open its own).
    _audit_repeated(
        org,
        f"Okta returned {code}",
        key=f"Okta returned {code if code in OKTA_ERRORS else '(other)'}",
        description=request.args.get("error_description", "")[:300],
    )
    return refuse(
        OKTA_ERRORS.get(
            code, f"Okta refused the sign-in ({code}). Ask your Okta administrator."
        ),
        403,
    )


@bp.post("/okta/resend")
def resend() -> Any:
    """Email the confirmation link again to the person Okta just vouched for."""
    pending = session.get(PENDING_KEY)
    form = ContinueForm()
    if (
        not form.validate_on_submit()
        or not pending
        or time.time() - pending["at"] > FLOW_SECONDS
    ):
        return refuse("Start again from the sign-in page.", 400)
    user = db.session.get(User, pending["user_id"])
    if user is None or not user.is_active:
        return refuse("Start again from the sign-in page.", 400)
    if linking.recently_sent(user):
        delivered = linking.last_delivered_link(user)
        return render_template(
            "okta_oidc/link_sent.html",
            email=user.email,
            result="recent",
            sent_at=delivered.sent_at if delivered else None,
        )
    result = linking.send_link_email(user, actor="okta sign-in")
    session.pop(PENDING_KEY, None)
    status = 200 if result in (linking.SENT, linking.OUTBOX) else 503
    return render_template(
        "okta_oidc/link_sent.html", email=user.email, result=result
    ), status


@bp.route("/okta/link/<token>", methods=("GET", "POST"))
def link(token: str) -> Any:
    """The emailed link: explain, then (POST) go through Okta to bind the account."""
    row = linking.find_link_token(token)
    if row is None:
        return render_template("okta_oidc/link_invalid.html"), 404
    org = row.user.organization
    if not sso_available(org):
        return render_template("okta_oidc/link_invalid.html"), 404
    form = ContinueForm()
    if form.validate_on_submit():
        return start_flow(org, None, link_token=row)
    response = make_response(
        render_template("okta_oidc/link.html", user=row.user, org=org, form=form)
    )
    # "Continue to Okta" posts here and is redirected to Okta's origin.
    allow_form_to_okta(response, org)
    return response


def allow_form_to_okta(response: Response, org: Organization) -> Response:
    """Let a page's form end in a redirect to the organization's Okta (CSP).

    Browsers apply `form-action` to the redirects after a POST too.
    """
    config = org.sso_config
    if config is None:
        return response
    okta = urlsplit(
        (config.saml_sso_url if config.protocol == "saml" else config.oidc_issuer) or ""
    )
    if okta.scheme in ("https", "http") and okta.netloc:
        response.headers["Content-Security-Policy"] = content_security_policy(
            f"{okta.scheme}://{okta.netloc}"
        )
    return response


@bp.post("/okta/link-mine")
@login_required
def link_mine() -> Any:
    """ "Link my Okta account" from the member's own page: an Okta round trip.

    Whoever Okta says they are becomes this signed-in member's identity: the
    member proves both sides (their session here, their account at Okta).
    """
    org = current_user.organization
    if not ContinueForm().validate_on_submit():
        return refuse("That request was not understood. Start again.", 400)
    if not sso_available(org):
        return render_template("login/sso_unavailable.html"), 404
    user = current_user._get_current_object()
    return start_flow(org, url_for("members.show", user_id=user.id), link_user=user)
