"""Require Okta sign-in: `/settings/okta/require`.

The page shows the preconditions as a checklist, the exempt accounts, the
owner's recovery codes and who turning it on affects; owners change it
(`core.sso_authority.require_okta_problem`), admins see it. Every change is a
service of `core.require_okta` or `core.recovery_codes`, which audit and commit.
"""

from __future__ import annotations

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField

from blueprints.settings import bp
from core import linking
from core import okta_sweep
from core import recovery_codes
from core import require_okta
from core import way_back_in
from core.authority import AccountError
from core.authority import Actor
from core.extensions import db
from core.models import Organization
from core.models import User
from core.require_okta_preview import preview
from core.require_okta_preview import turn_off_effect
from core.security import admin_required
from core.sso import sso_available
from core.sso_authority import require_okta_problem

Page = str | tuple[str, int] | Response


class RequireForm(FlaskForm):
    """A POST of the page: its CSRF token, and `confirm` where a step asks."""

    confirm = HiddenField()


def render_require(
    org: Organization,
    *,
    status: int = 200,
    error: str | None = None,
    codes: list[str] | None = None,
    exempt_error: str | None = None,
    exempt_values: list[str] | None = None,
) -> tuple[str, int]:
    """The Require Okta sign-in page."""
    user: User = current_user._get_current_object()
    exempt = require_okta.exempt_members(org)
    required = require_okta.is_required(org)
    return render_template(
        "settings/require_okta.html",
        org=org,
        required=required,
        suspended=not required and okta_sweep.requirement_set(org),
        may_change=require_okta_problem(Actor.of_user(user)) is None,
        checklist=require_okta.preconditions(org, user),
        preview=preview(org),
        exempt_values=exempt_values
        if exempt_values is not None
        else [member.email for member in exempt],
        max_exempt=require_okta.MAX_EXEMPT,
        code_status=recovery_codes.status(user) if user.role == "owner" else None,
        backup_problem=require_okta.backup_session_problem(user),
        codes=codes,
        error=error,
        exempt_error=exempt_error,
        form=RequireForm(),
    ), status


def _checked_form() -> RequireForm:
    """The posted form; 400 when its CSRF token is missing or wrong."""
    form = RequireForm()
    if not form.validate_on_submit():
        abort(400)
    return form


@bp.get("/settings/okta/require")
@admin_required
def require_okta_page() -> Page:
    """Require Okta sign-in: the checklist, exempt accounts, codes, preview."""
    return render_require(current_user.organization)


@bp.post("/settings/okta/require/on")
@admin_required
def require_okta_on() -> Page:
    """Turn the requirement on (the page showed the preview); refused with
    the reason while a precondition is unmet."""
    _checked_form()
    org = current_user.organization
    try:
        ended = require_okta.turn_on(org, current_user._get_current_object())
    except require_okta.Refused as exc:
        db.session.rollback()
        return render_require(
            org, status=exc.status, error=f"Okta sign-in was not required: {exc}"
        )
    flash(
        f"Okta sign-in is required for everyone at {org.name} but the exempt "
        f"accounts. {ended} password session{'' if ended == 1 else 's'} ended.",
        "success",
    )
    return redirect(url_for("settings.require_okta_page"))


@bp.post("/settings/okta/require/off")
@admin_required
def require_okta_off() -> Page:
    """Turn it off: first what it changes, then (confirm) off."""
    form = _checked_form()
    org = current_user.organization
    problem = require_okta_problem(Actor.of_user(current_user))
    if problem:
        return render_require(org, status=403, error=problem)
    if form.confirm.data != "yes":
        return render_template(
            "settings/require_okta_off.html",
            org=org,
            effect=turn_off_effect(org),
            form=RequireForm(confirm="yes"),
        )
    if require_okta.turn_off(org, current_user._get_current_object()):
        flash("Okta sign-in is optional again: passwords work again.", "success")
    else:
        flash("Okta sign-in was not required.", "success")
    return redirect(url_for("settings.require_okta_page"))


@bp.post("/settings/okta/require/exempt")
@admin_required
def require_okta_exempt() -> Page:
    """Name the exempt accounts (at most three active members, by email)."""
    _checked_form()
    org = current_user.organization
    emails = [value[:400] for value in request.form.getlist("exempt")[:20]]
    try:
        way_back_in.set_exemptions(org, emails, current_user._get_current_object())
    except require_okta.Refused as exc:
        db.session.rollback()
        return render_require(
            org, status=exc.status, exempt_error=str(exc), exempt_values=emails
        )
    flash("Exempt accounts saved.", "success")
    return redirect(url_for("settings.require_okta_page") + "#exempt")


@bp.post("/settings/okta/require/codes")
@admin_required
def require_okta_codes() -> Page:
    """Make new recovery codes for the signed-in owner; shown in this answer
    only (never stored, never in a URL)."""
    _checked_form()
    org = current_user.organization
    problem = require_okta.backup_session_problem(current_user._get_current_object())
    if problem:
        return render_require(org, status=403, error=problem)
    try:
        codes = recovery_codes.generate(
            current_user._get_current_object(), actor=current_user._get_current_object()
        )
    except AccountError as exc:
        db.session.rollback()
        return render_require(org, status=403, error=str(exc))
    return render_require(org, codes=codes)


@bp.post("/settings/okta/require/codes/saved")
@admin_required
def require_okta_codes_saved() -> Page:
    """The owner confirms they saved their codes."""
    _checked_form()
    if recovery_codes.confirm_saved(current_user._get_current_object()):
        flash("Recovery codes confirmed as saved.", "success")
    else:
        flash("You have no new recovery codes to confirm.", "error")
    return redirect(url_for("settings.require_okta_page") + "#recovery-codes")


@bp.post("/settings/okta/require/links")
@admin_required
def require_okta_links() -> Page:
    """Email the link now to every active member not linked to Okta yet."""
    _checked_form()
    org = current_user.organization
    if not sso_available(org):
        flash("Turn Okta sign-in on first: the link needs it.", "error")
        return redirect(url_for("settings.require_okta_page") + "#preview")
    invitations = linking.invite_everyone(org, actor=current_user._get_current_object())
    flash(invitations.summary() or "Everyone is linked already.", "success")
    return redirect(url_for("settings.require_okta_page") + "#preview")
