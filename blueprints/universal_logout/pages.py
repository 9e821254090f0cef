"""Universal Logout pages: the settings (owners and admins) and what a
password sign-in is told after Okta logged the person out."""

from __future__ import annotations

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from blueprints.universal_logout import bp
from blueprints.universal_logout.forms import UniversalLogoutForm
from core import universal_logout
from core.authority import Actor
from core.extensions import db
from core.models import Organization
from core.models import User
from core.security import admin_required
from core.sso_authority import universal_logout_problem
from core.universal_logout_rows import last_attempt
from core.universal_logout_rows import last_unverified
from core.universal_logout_settings import Change
from core.universal_logout_settings import NotAllowed
from core.universal_logout_settings import UniversalLogoutInvalid
from core.universal_logout_settings import config_of
from core.universal_logout_settings import update
from core.universal_logout_settings import uses_saml
from core.urls import MISSING_HELP
from core.urls import PublicUrlMissing

PAGE = "/settings/okta/universal-logout"
# What each answer means, as the last-request row says it.
RESULTS = {
    204: "Signed out",
    400: "Refused: malformed body",
    401: "Refused: token not accepted",
    403: "Refused: Universal Logout off",
    404: "Refused: no such person",
    413: "Refused: body too large",
    503: "Failed: Okta's keys unavailable",
}


@bp.get(PAGE)
@admin_required
def settings() -> str:
    """The Universal Logout settings and the last request Okta sent."""
    org = current_user.organization
    config = config_of(org)
    form = UniversalLogoutForm(
        enabled=bool(config and config.enabled),
        revoke_personal_keys=bool(config and config.revoke_personal_keys),
        okta_url=config.saml_okta_url if config else "",
        app_id=config.saml_app_id if config else "",
    )
    return render_page(org, form)


@bp.post(PAGE)
@admin_required
def save() -> Response | tuple[str, int]:
    """Save the switches (and a SAML organization's Okta address and app id)."""
    org = current_user.organization
    if not org.has_paid_plan:
        abort(403)
    form = UniversalLogoutForm()
    if not form.validate_on_submit():
        return render_page(org, form), 400
    saml = uses_saml(org)
    change = Change(
        enabled=form.enabled.data,
        revoke_personal_keys=form.revoke_personal_keys.data,
        # Left empty: unchanged (turning on without them says what is missing).
        okta_url=(form.okta_url.data or "").strip() or None if saml else None,
        app_id=(form.app_id.data or "").strip() or None if saml else None,
    )
    try:
        changed = update(org, change, current_user)
    except UniversalLogoutInvalid as exc:
        db.session.rollback()
        for name, message in exc.errors.items():
            field = {"saml_okta_url": form.okta_url, "saml_app_id": form.app_id}.get(
                name
            )
            (field.errors if field is not None else form.form_errors).append(message)  # type: ignore[union-attr]
        status = 403 if isinstance(exc, NotAllowed) else 400
        return render_page(org, form), status
    flash(
        "Universal Logout settings saved." if changed else "Nothing changed.", "success"
    )
    return redirect(url_for("universal_logout.settings"))


def render_page(org: Organization, form: UniversalLogoutForm) -> str:
    """The page, with the endpoint URL (when the public address is known)."""
    try:
        endpoint = universal_logout.endpoint_url()
    except PublicUrlMissing:
        endpoint = None
    config = config_of(org)
    return render_template(
        "settings/universal_logout.html",
        org=org,
        form=form,
        config=config,
        ulo_url=endpoint,
        missing_help=MISSING_HELP,
        saml=uses_saml(org),
        off_problem=universal_logout.off_problem(org, config),
        last=last_attempt(org),
        unverified=last_unverified(org),
        results=RESULTS,
        may_address=universal_logout_problem(
            Actor.of_user(current_user), addressing=True
        )
        is None,
    )


def okta_required_page(user: User) -> tuple[str, int]:
    """A password sign-in of someone Okta logged out: go through Okta (audited)."""
    universal_logout.refuse_password_sign_in(user)
    page = render_template("universal_logout/use_okta.html", org=user.organization)
    return page, 403
