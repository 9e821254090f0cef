"""Views of the settings blueprint."""

from __future__ import annotations

from datetime import timedelta

from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_required
from werkzeug.wrappers import Response

from blueprints.scim.http import SCIM_PATH
from blueprints.settings import bp
from blueprints.settings.forms import DashboardSignInForm
from blueprints.settings.forms import OktaForm
from blueprints.settings.forms import RefreshMetadataForm
from blueprints.settings.forms import RenameForm
from blueprints.settings.forms import ScimSyncForm
from blueprints.settings.forms import SsoProviderForm
from core import linking
from core.authority import AccountError
from core.authority import Actor
from core.authority import sso_settings_problem
from core.extensions import db
from core.key_authority import key_warning
from core.linking import members_to_relink
from core.models import PROTOCOLS
from core.models import ApiKey
from core.models import Group
from core.models import Organization
from core.models import ScimRequest
from core.models import User
from core.models import utcnow
from core.okta import OktaError
from core.params import query_row_id
from core.provisioning import organizations
from core.saml_metadata import CertificateFacts
from core.saml_metadata import certificate_facts
from core.security import admin_required
from core.sso import configure_oidc
from core.sso import configure_saml
from core.sso import disable_sso
from core.sso import refresh_saml_metadata
from core.sso import set_idp_initiated
from core.urls import MISSING_HELP
from core.urls import public_base_url
from core.urls import public_url


def _count(query: object) -> int:
    return db.session.execute(query).scalar_one()  # type: ignore[arg-type]


@bp.get("/organization")
@login_required
def organization() -> str:
    """Overview of the signed-in user's organization."""
    org = current_user.organization
    count = db.select(db.func.count())
    counts = {
        "members": _count(count.select_from(User).filter_by(organization_id=org.id)),
        "active": _count(
            count.select_from(User).filter_by(organization_id=org.id, status="active")
        ),
        "groups": _count(count.select_from(Group).filter_by(organization_id=org.id)),
        "linked": linking.count_linked(org),
    }
    return render_template("settings/organization.html", org=org, counts=counts)


@bp.get("/settings")
@admin_required
def index() -> str:
    """Organization settings: name, plan, single sign-on."""
    org = current_user.organization
    return render_settings(org, RenameForm(name=org.name))


def render_settings(org: Organization, rename_form: RenameForm) -> str:
    """The settings page with its forms."""
    config = org.sso_config
    enabled = bool(config and config.scim_enabled)
    return render_template(
        "settings/index.html",
        org=org,
        rename_form=rename_form,
        scim_form=ScimSyncForm(enabled=not enabled),
        sso_form=SsoProviderForm(
            provider="okta" if config is not None and config.okta_enabled else "none"
        ),
        scim_enabled=enabled,
        scim_url=optional_url(SCIM_PATH),
        missing_url_help=MISSING_HELP,
        expiring=expiring_certificates(org),
    )


def expiring_certificates(org: Organization) -> list[CertificateFacts]:
    """The saved SAML signing certificates that expire within 30 days."""
    config = org.sso_config
    if config is None or not config.okta_enabled or config.protocol != "saml":
        return []
    facts = [certificate_facts(cert) for cert in config.saml_certificates or []]
    return [cert for cert in facts if cert.expires_soon]


@bp.post("/settings/name")
@admin_required
def rename() -> Response | tuple[str, int]:
    """Rename the organization (owners only)."""
    if current_user.role != "owner":
        abort(403)
    org = current_user.organization
    form = RenameForm()
    if form.validate_on_submit():
        try:
            organizations.rename_organization(org, form.name.data, actor=current_user)
        except AccountError as exc:
            form.name.errors.append(str(exc))
        else:
            flash(f"The organization is now called {org.name}.", "success")
            return redirect(url_for("settings.index"))
    return render_settings(org, form), 400


@bp.post("/settings/scim")
@admin_required
def scim_sync() -> Response:
    """Switch "Sync the groups & users from your SSO provider" on or off."""
    org = current_user.organization
    form = ScimSyncForm()
    if not form.validate_on_submit():
        abort(400)
    if form.enabled.data and not org.has_paid_plan:
        flash("SCIM provisioning needs the Pro or Enterprise plan.", "error")
        return redirect(url_for("settings.index"))
    organizations.set_scim_sync(org, bool(form.enabled.data), actor=current_user)
    state = "on" if form.enabled.data else "off"
    flash(f"Sync of users and groups from Okta is {state}.", "success")
    return redirect(url_for("settings.index"))


@bp.get("/settings/provisioning")
@admin_required
def provisioning_activity() -> str:
    """Every SCIM request of the organization, newest first, with a summary."""
    org = current_user.organization
    errors_only = request.args.get("errors") == "1"
    before = query_row_id("before")
    per_page = current_app.config["AUDIT_PER_PAGE"]
    query = db.select(ScimRequest).where(ScimRequest.organization_id == org.id)
    if errors_only:
        query = query.where(ScimRequest.status >= 400)
    if before:
        query = query.where(ScimRequest.id < before)
    rows = (
        db.session.execute(query.order_by(ScimRequest.id.desc()).limit(per_page + 1))
        .scalars()
        .all()
    )
    more = len(rows) > per_page
    rows = rows[:per_page]
    return render_template(
        "settings/provisioning.html",
        org=org,
        rows=rows,
        summary=activity_summary(org.id),
        errors_only=errors_only,
        next_before=rows[-1].id if more else None,
        first_page=before is None,
        scim_url=optional_url(SCIM_PATH),
        missing_url_help=MISSING_HELP,
    )


def activity_summary(org_id: int) -> dict[str, object]:
    """Last success, errors in the last 24 hours, and the SCIM keys' last use."""
    last_success = db.session.execute(
        db.select(ScimRequest)
        .where(ScimRequest.organization_id == org_id, ScimRequest.status < 400)
        .order_by(ScimRequest.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    since = utcnow() - timedelta(hours=24)
    errors = db.session.execute(
        db.select(db.func.count())
        .select_from(ScimRequest)
        .where(
            ScimRequest.organization_id == org_id,
            ScimRequest.status >= 400,
            ScimRequest.created_at > since,
        )
    ).scalar_one()
    keys = activity_keys(org_id)
    return {
        "last_success": last_success,
        "errors_24h": errors,
        "keys": keys,
        "warnings": {key.id: key_warning(key) for key in keys},
    }


def activity_keys(org_id: int) -> list[ApiKey]:
    """The organization's keys with the scim scope, most recently used first."""
    return list(
        db.session.execute(
            db.select(ApiKey)
            .where(ApiKey.organization_id == org_id, ApiKey.scopes.contains("scim"))
            .order_by(ApiKey.last_used_at.desc().nulls_last(), ApiKey.id.desc())
        ).scalars()
    )


def optional_url(path: str) -> str | None:
    """public_url(path), or None while no public address is configured."""
    base = public_base_url()
    return base + path if base else None


def redirect_url() -> str:
    """The OIDC redirect URL to paste into Okta."""
    return public_url(url_for("okta_oidc.callback"))


def okta_values() -> dict[str, str] | None:
    """Everything the Okta admin pastes into Okta, for the OKTA AUTHENTICATION page.

    None while no public address is configured (the page says so).
    """
    if public_base_url() is None:
        return None
    return {
        "redirect_url": redirect_url(),
        "acs_url": public_url(url_for("okta_saml.acs")),
        "audience": public_url(),
        "scim_url": public_url(SCIM_PATH),
        "sp_metadata_url": public_url(url_for("okta_saml.metadata")),
    }


@bp.post("/settings/sso")
@admin_required
def choose_sso() -> Response:
    """The drop-down's Connect: Okta opens OKTA AUTHENTICATION, None disconnects."""
    org = current_user.organization
    form = SsoProviderForm()
    if not form.validate_on_submit():
        abort(400)
    if form.provider.data == "okta":
        return redirect(url_for("settings.okta"))
    problem = sso_settings_problem(Actor.of_user(current_user))
    if problem:
        flash(problem, "error")
        return redirect(url_for("settings.index"))
    if disable_sso(org, actor=current_user):
        flash(
            "Okta single sign-on is off. Members keep their accounts and data.",
            "success",
        )
    return redirect(url_for("settings.index"))


@bp.route("/settings/okta", methods=("GET", "POST"))
@admin_required
def okta() -> Response | str | tuple[str, int]:
    """OKTA AUTHENTICATION: check the metadata, then save (never the reverse)."""
    org = current_user.organization
    config = org.sso_config
    form = OktaForm()
    if request.method == "GET" and config is not None:
        form.default_role.data = config.default_role
        form.protocol.data = config.protocol
        form.client_id.data = config.oidc_client_id
        if config.protocol == "oidc":
            form.metadata_url.data = config.metadata_url
        else:
            form.saml_metadata_url.data = config.metadata_url
    if request.method == "GET":
        return render_okta(org, form)
    if not org.has_paid_plan:
        abort(403)
    problem = sso_settings_problem(Actor.of_user(current_user))
    if problem:
        form.form_errors.append(problem)
        return render_okta(org, form), 403
    if not form.validate_on_submit():
        return render_okta(org, form), 400
    try:
        if form.protocol.data == "saml":
            invited = configure_saml(
                org,
                metadata_url=form.saml_metadata_url.data or "",
                default_role=form.default_role.data,
                actor=current_user,
            )
        else:
            invited = configure_oidc(
                org,
                client_id=form.client_id.data or "",
                client_secret=form.client_secret.data or None,
                metadata_url=form.metadata_url.data or "",
                default_role=form.default_role.data,
                actor=current_user,
            )
    except OktaError as exc:
        db.session.rollback()
        form.form_errors.append(str(exc))
        return render_okta(org, form), 400
    message = f"Okta single sign-on ({form.protocol.data.upper()}) is saved."
    if invited is not None:
        message += " " + invited.summary()
    flash(message, "success" if invited is None or not invited.failed else "error")
    return redirect(url_for("settings.okta"))


def render_okta(org: Organization, form: OktaForm) -> str:
    """The OKTA AUTHENTICATION page, with the saved SAML identity provider if any."""
    config = org.sso_config
    saml_saved = bool(
        config is not None and config.okta_enabled and config.protocol == "saml"
    )
    return render_template(
        "settings/okta.html",
        org=org,
        form=form,
        config=config,
        values=okta_values(),
        missing_url_help=MISSING_HELP,
        relink={protocol: members_to_relink(org, protocol) for protocol in PROTOCOLS},
        saml_saved=saml_saved,
        may_change=sso_settings_problem(Actor.of_user(current_user)) is None,
        certificates=[
            certificate_facts(cert) for cert in (config.saml_certificates or [])
        ]
        if saml_saved and config is not None
        else [],
        refresh_form=RefreshMetadataForm(),
        dashboard_form=DashboardSignInForm(
            enabled=not (config is not None and config.idp_initiated_enabled)
        ),
    )


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
    return redirect(url_for("settings.okta"))


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
    return redirect(url_for("settings.okta"))
