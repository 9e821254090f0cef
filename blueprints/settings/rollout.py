"""Turning Okta sign-in on for everyone, to the other protocol, or off.

Each is two POSTs: the first (without `confirm`) changes nothing and shows
who is affected; the second, with `confirm=yes`, does it. Turning on needs a
passing test sign-in of exactly the saved settings (`core.sso_rollout`).
Owners only, like every change of the Okta connection.
"""

from __future__ import annotations

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from blueprints.settings import bp
from blueprints.settings.forms import OktaForm
from blueprints.settings.forms import SsoProviderForm
from blueprints.settings.forms import TurnOnForm
from blueprints.settings.okta import chosen_protocol
from blueprints.settings.okta import render_okta
from core.authority import Actor
from core.extensions import db
from core.okta import OktaError
from core.security import admin_required
from core.sso_authority import sso_settings_problem
from core.sso_rollout import PROTOCOL_NAMES
from core.sso_rollout import turn_off
from core.sso_rollout import turn_off_impact
from core.sso_rollout import turn_on
from core.sso_rollout import turn_on_preview
from core.sso_rollout import turn_on_problem


@bp.post("/settings/okta/on")
@admin_required
def turn_on_everyone() -> Response | tuple[str, int]:
    """Turn on for everyone: who gets the link email first, then (confirm) on."""
    org = current_user.organization
    form = TurnOnForm()
    if not form.validate_on_submit():
        abort(400)
    protocol = chosen_protocol(form.protocol.data)
    problem = sso_settings_problem(Actor.of_user(current_user))
    status = 403
    if problem is None:
        problem, status = turn_on_problem(org, protocol), 409
    if problem is not None:
        okta_form = OktaForm(protocol=protocol)
        okta_form.form_errors.append(f"Okta sign-in was not turned on: {problem}")
        return render_okta(org, okta_form, protocol, status)
    preview = turn_on_preview(org, protocol)
    if form.confirm.data != "yes" or form.send_links.data not in ("yes", "no"):
        missing = form.confirm.data == "yes"
        return render_template(
            "settings/okta_turn_on.html",
            org=org,
            form=form,
            preview=preview,
            name=PROTOCOL_NAMES[protocol],
            choose_error="Choose whether to email the link now." if missing else None,
        ), (400 if missing else 200)
    try:
        invitations = turn_on(
            org, protocol, actor=current_user, send_links=form.send_links.data == "yes"
        )
    except OktaError as exc:  # changed meanwhile (a second tab, another owner)
        db.session.rollback()
        flash(f"Okta sign-in was not turned on: {exc}", "error")
        return redirect(url_for("settings.okta", protocol=protocol))
    message = f"Okta sign-in is on for everyone ({PROTOCOL_NAMES[protocol]})."
    if invitations is not None:
        message += " " + (invitations.summary() or "Everyone is linked already.")
    else:
        message += (
            " No link email was sent; send it from a member's page when you are ready."
        )
    failed = invitations is not None and (invitations.failed or invitations.not_sent)
    flash(message, "error" if failed else "success")
    return redirect(url_for("settings.okta", protocol=protocol))


@bp.post("/settings/sso")
@admin_required
def choose_sso() -> Response | tuple[str, int]:
    """The drop-down's Connect: Okta opens OKTA AUTHENTICATION; None shows who
    would be left without a way in, and turns Okta sign-in off once confirmed."""
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
    config = org.sso_config
    if config is None or not config.okta_enabled:
        flash("Okta single sign-on is already off.", "success")
        return redirect(url_for("settings.index"))
    if form.confirm.data != "yes":
        return render_template(
            "settings/okta_turn_off.html",
            org=org,
            # Not bound to this request (which has no confirm): the button
            # must post confirm=yes.
            form=SsoProviderForm(formdata=None, provider="none", confirm="yes"),
            impact=turn_off_impact(org),
            name=PROTOCOL_NAMES.get(config.protocol, config.protocol),
        ), 200
    turn_off(org, actor=current_user)
    flash(
        "Okta single sign-on is off. Members keep their accounts, data and links; "
        "the settings are kept for when you turn it on again.",
        "success",
    )
    return redirect(url_for("settings.index"))
