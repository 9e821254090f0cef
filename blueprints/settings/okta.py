"""OKTA AUTHENTICATION: choose a protocol, paste values into Okta, save.

Saving changes nothing for members (unless they already sign in with these
settings); testing and turning on are in `rollout.py`. The page shows one
protocol at a time (`?protocol=oidc|saml`), and each keeps its own settings.
"""

from __future__ import annotations

import time

from flask import abort
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from blueprints.scim.http import SCIM_PATH
from blueprints.settings import bp
from blueprints.settings.forms import DashboardSignInForm
from blueprints.settings.forms import OktaForm
from blueprints.settings.forms import RefreshMetadataForm
from blueprints.settings.forms import TurnOnForm
from core.authority import Actor
from core.extensions import db
from core.linking import members_to_relink
from core.models import PROTOCOLS
from core.models import Organization
from core.models import SsoConfig
from core.okta import OktaError
from core.saml_metadata import certificate_facts
from core.security import admin_required
from core.security import content_security_policy
from core.security import decrypt_secret
from core.security import encrypt_secret
from core.sso import MoveNotConfirmed
from core.sso import Saved
from core.sso import SettingsInvalid
from core.sso import configure_oidc
from core.sso import configure_saml
from core.sso import is_live
from core.sso import refresh_saml_metadata
from core.sso import set_idp_initiated
from core.sso_authority import sso_settings_problem
from core.sso_authority import sso_test_problem
from core.sso_rollout import MoveImpact
from core.sso_rollout import move_impact
from core.sso_rollout import okta_origin
from core.sso_rollout import sign_in_test_status
from core.sso_rollout import turn_on_problem
from core.urls import MISSING_HELP
from core.urls import public_base_url
from core.urls import public_url

# The fields of each protocol, in the order of the page (the first with an
# error gets the focus).
FIELDS = {
    "oidc": ("default_role", "client_id", "client_secret", "metadata_url"),
    "saml": ("default_role", "saml_metadata_url"),
}
# A client secret typed into a form that was refused, kept for the next try.
KEPT_SECRET = "okta_kept_secret"
KEPT_SECONDS = 600


def chosen_protocol(value: str | None) -> str:
    """The protocol the page is about: asked for, else the organization's."""
    if value is not None and value in PROTOCOLS:
        return value
    config = current_user.organization.sso_config
    return config.protocol if config is not None else "oidc"


@bp.get("/settings/okta")
@admin_required
def okta() -> Response:
    """OKTA AUTHENTICATION for one protocol (owners and admins)."""
    org = current_user.organization
    protocol = chosen_protocol(request.args.get("protocol"))
    form = OktaForm(protocol=protocol)
    config = org.sso_config
    if config is not None:
        form.default_role.data = config.default_role
        form.client_id.data = config.oidc_client_id
        form.metadata_url.data = config.oidc_metadata_url
        form.saml_metadata_url.data = config.saml_metadata_url
    return render_okta(org, form, protocol)


@bp.post("/settings/okta")
@admin_required
def save_okta() -> Response:
    """Save: check every value (fetching the metadata), then store. Members see
    no change until Okta sign-in is turned on for them."""
    org = current_user.organization
    form = OktaForm()
    protocol = form.protocol.data if form.protocol.data in PROTOCOLS else "oidc"
    if not org.has_paid_plan:
        abort(403)
    problem = sso_settings_problem(Actor.of_user(current_user))
    if problem:
        form.form_errors.append(problem)
        return render_okta(org, form, protocol, 403)
    if not form.validate_on_submit():
        return render_okta(org, form, protocol, 400)
    typed = (form.client_secret.data or "").strip()
    try:
        saved = _save(org, form, protocol, typed or kept_secret(org.id))
    except MoveNotConfirmed as exc:
        db.session.rollback()
        keep_secret(org.id, typed)
        impact = move_impact(org, exc.protocol, exc.new_issuer)
        return render_okta(org, form, protocol, 200, move=impact)
    except SettingsInvalid as exc:
        db.session.rollback()
        if "client_secret" not in exc.errors:
            keep_secret(org.id, typed)
        for name, message in exc.errors.items():
            form_field = getattr(form, name, None)
            errors = form_field.errors if form_field is not None else form.form_errors
            errors.append(message)  # type: ignore[union-attr]
        return render_okta(org, form, protocol, 400)
    except OktaError as exc:
        db.session.rollback()
        form.form_errors.append(str(exc))
        return render_okta(org, form, protocol, 400)
    session.pop(KEPT_SECRET, None)
    flash(saved_message(saved), "success")
    return redirect(url_for("settings.okta", protocol=protocol))


def _save(org: Organization, form: OktaForm, protocol: str, secret: str) -> Saved:
    """Hand the form to `core.sso` (which checks everything, then stores)."""
    common = {
        "default_role": form.default_role.data,
        "actor": current_user,
        "confirmed": form.confirm.data == "yes",
        "send_links": form.send_links.data == "yes",
    }
    if protocol == "saml":
        return configure_saml(
            org, metadata_url=form.saml_metadata_url.data or "", **common
        )
    return configure_oidc(
        org,
        client_id=form.client_id.data or "",
        client_secret=secret or None,
        metadata_url=form.metadata_url.data or "",
        **common,
    )


def saved_message(saved: Saved) -> str:
    """What the page says after a save."""
    name = saved.protocol.upper()
    if saved.live:
        message = f"The {name} settings are saved; members sign in with them now."
        if saved.invitations is not None:
            message += " " + saved.invitations.summary()
        return message
    if not saved.changed:
        return (
            f"The {name} settings are saved (unchanged). Nothing changed for members."
        )
    return (
        f"The {name} settings are saved. Nothing changed for members: test sign-in "
        "with Okta, then turn it on for everyone."
    )


def keep_secret(org_id: int, secret: str) -> None:
    """Keep a typed client secret for the form's next try, never in the page.

    Encrypted (with a key derived from SECRET_KEY) in this browser's session,
    which only the server can read; for 10 minutes, for this organization.
    """
    if secret:
        session[KEPT_SECRET] = {
            "org": org_id,
            "enc": encrypt_secret(secret),
            "at": time.time(),
        }


def kept_secret(org_id: int) -> str:
    """The client secret kept by `keep_secret`, or ""."""
    kept = session.get(KEPT_SECRET)
    if (
        not isinstance(kept, dict)
        or kept.get("org") != org_id
        or time.time() - float(kept.get("at", 0)) > KEPT_SECONDS
    ):
        return ""
    try:
        return decrypt_secret(str(kept.get("enc", "")))
    except ValueError:
        return ""


def render_okta(
    org: Organization,
    form: OktaForm,
    protocol: str,
    status: int = 200,
    move: MoveImpact | None = None,
) -> Response:
    """The OKTA AUTHENTICATION page for `protocol`."""
    config = org.sso_config
    actor = Actor.of_user(current_user)
    form.protocol.data = protocol
    errors = [name for name in FIELDS[protocol] if getattr(form, name).errors]
    page = render_template(
        "settings/okta.html",
        org=org,
        form=form,
        protocol=protocol,
        config=config,
        saved=bool(config and config.is_saved(protocol)),
        live=is_live(config, protocol),
        values=okta_values(),
        missing_url_help=MISSING_HELP,
        may_change=sso_settings_problem(actor) is None,
        may_test=sso_test_problem(actor) is None,
        secret_state=secret_state(org, config),
        focus=errors[0] if errors else None,
        move=move,
        test=sign_in_test_status(org, protocol),
        just_tested=request.args.get("tested") == "1",
        turn_on_problem=turn_on_problem(org, protocol),
        relink=members_to_relink(org, protocol)
        if config is not None and config.okta_enabled and config.protocol != protocol
        else 0,
        turn_on_form=TurnOnForm(protocol=protocol),
        certificates=[
            certificate_facts(cert) for cert in (config.saml_certificates or [])
        ]
        if config is not None and protocol == "saml" and config.is_saved("saml")
        else [],
        refresh_form=RefreshMetadataForm(),
        dashboard_form=DashboardSignInForm(
            enabled=not (config is not None and config.idp_initiated_enabled)
        ),
    )
    response = make_response(page, status)
    # "Test sign-in with Okta" posts here and is redirected to Okta's origin.
    origin = okta_origin(config, protocol)
    if origin:
        response.headers["Content-Security-Policy"] = content_security_policy(origin)
    return response


def secret_state(org: Organization, config: SsoConfig | None) -> str:
    """How the page speaks of the client secret: "kept" (typed into a refused
    form, kept for the next try), "saved", or ""."""
    if kept_secret(org.id):
        return "kept"
    if config is not None and config.oidc_client_secret_enc:
        return "saved"
    return ""


def okta_values() -> dict[str, str] | None:
    """Everything the Okta admin pastes into Okta, for the OKTA AUTHENTICATION page.

    None while no public address is configured (the page says so).
    """
    if public_base_url() is None:
        return None
    return {
        "redirect_url": public_url(url_for("okta_oidc.callback")),
        "acs_url": public_url(url_for("okta_saml.acs")),
        "audience": public_url(),
        "scim_url": public_url(SCIM_PATH),
        "sp_metadata_url": public_url(url_for("okta_saml.metadata")),
    }


@bp.post("/settings/okta/refresh")
@admin_required
def refresh_metadata() -> Response:
    """Refresh metadata: fetch the SAML metadata again (Okta rotated its key?)."""
    org = current_user.organization
    if not RefreshMetadataForm().validate_on_submit():
        abort(400)
    try:
        changed = refresh_saml_metadata(org, actor=current_user)
    except OktaError as exc:
        db.session.rollback()
        flash(f"The metadata was not refreshed: {exc}", "error")
    else:
        flash(
            "The metadata is refreshed; Okta's signing certificates changed."
            if changed
            else "The metadata is refreshed; the signing certificates are the same.",
            "success",
        )
    return redirect(url_for("settings.okta", protocol="saml"))


@bp.post("/settings/okta/dashboard")
@admin_required
def dashboard_sign_in() -> Response:
    """Allow or refuse SAML sign-in started from the Okta dashboard."""
    org = current_user.organization
    form = DashboardSignInForm()
    if not form.validate_on_submit():
        abort(400)
    set_idp_initiated(org, bool(form.enabled.data), actor=current_user)
    state = "allowed" if form.enabled.data else "switched off"
    flash(f"Sign-in from the Okta dashboard is {state}.", "success")
    return redirect(url_for("settings.okta", protocol="saml"))
