"""Views of the settings blueprint."""

from __future__ import annotations

from datetime import timedelta

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user
from flask_login import login_required
from werkzeug.wrappers import Response

from blueprints.audit import scim_log
from blueprints.scim.http import SCIM_PATH
from blueprints.settings import bp
from blueprints.settings.forms import RenameForm
from blueprints.settings.forms import ScimSyncForm
from blueprints.settings.forms import SsoProviderForm
from core import health
from core import linking
from core.authority import AccountError
from core.extensions import db
from core.key_authority import key_warning
from core.models import ApiKey
from core.models import Group
from core.models import Organization
from core.models import ScimRequest
from core.models import User
from core.models import utcnow
from core.provisioning import organizations
from core.saml_metadata import CertificateFacts
from core.saml_metadata import certificate_facts
from core.security import admin_required
from core.urls import MISSING_HELP
from core.urls import public_base_url


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
def provisioning_activity() -> tuple[str, int]:
    """Every SCIM request of the organization, newest first, filtered, with a
    summary (the filters and the rows' words: blueprints/audit/scim_log.py)."""
    org = current_user.organization
    page, status = scim_log.activity_page(org.id)
    return render_template(
        "settings/provisioning.html",
        org=org,
        summary=activity_summary(org.id),
        scim_url=optional_url(SCIM_PATH),
        missing_url_help=MISSING_HELP,
        **page,
    ), status


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
        "unauthorized_24h": health.unauthorized_24h(org_id),
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
