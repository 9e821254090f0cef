"""Views of the okta blueprint: the SSO page, the start URL and the emailed link.

None of them depends on the protocol: they start a sign-in (`start.start_flow`)
and the protocol's blueprint takes it from there.
"""

from __future__ import annotations

import time
from typing import Any

from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from blueprints.okta import bp
from blueprints.okta.forms import ContinueForm
from blueprints.okta.forms import SsoOrganizationForm
from blueprints.okta.forms import TestSignInForm
from blueprints.okta.outcome import FLOW_SECONDS
from blueprints.okta.outcome import PENDING_KEY
from blueprints.okta.outcome import refuse
from blueprints.okta.start import allow_form_to_okta
from blueprints.okta.start import start_flow
from blueprints.okta.start import start_test
from core import linking
from core.authority import Actor
from core.extensions import db
from core.models import User
from core.provisioning import organizations
from core.require_okta import backup_session_problem
from core.security import safe_next_url
from core.sso import sso_available
from core.sso_authority import sso_test_problem


@bp.route("/sso", methods=("GET", "POST"))
def sso() -> Any:
    """Single Sign On (SSO): enter the organization name, then sign in with Okta.

    Unknown organizations, organizations without Okta and free plans get the same
    answer, so the page does not tell strangers which organizations exist.
    """
    form = SsoOrganizationForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if not form.validate_on_submit():
        return render_template("okta/sso.html", form=form)
    org = organizations.find_organization(form.organization.data)
    if not sso_available(org):
        return render_template("okta/sso_unavailable.html", form=form), 404
    assert org is not None
    return render_template(
        "okta/sso_continue.html", org=org, next=safe_next_url(form.next.data) or ""
    )


@bp.get("/sso/okta")
def start() -> Any:
    """Start Okta sign-in for the organization named in `org`.

    Outside scripts and bookmarks rely on this URL.
    """
    org = organizations.find_organization(request.args.get("org", "")[:100])
    if not sso_available(org):
        return render_template("okta/sso_unavailable.html"), 404
    assert org is not None
    return start_flow(org, request.args.get("next"))


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
            "okta/link_sent.html",
            email=user.email,
            result="recent",
            sent_at=delivered.sent_at if delivered else None,
        )
    result = linking.send_link_email(user, actor="okta sign-in")
    session.pop(PENDING_KEY, None)
    status = 200 if result in (linking.SENT, linking.OUTBOX) else 503
    return render_template(
        "okta/link_sent.html", email=user.email, result=result
    ), status


@bp.route("/okta/link/<token>", methods=("GET", "POST"))
def link(token: str) -> Any:
    """The emailed link: explain, then (POST) go through Okta to bind the account."""
    row = linking.find_link_token(token)
    if row is None:
        return render_template("okta/link_invalid.html"), 404
    org = row.user.organization
    if not sso_available(org):
        return render_template("okta/link_invalid.html"), 404
    form = ContinueForm()
    if form.validate_on_submit():
        return start_flow(org, None, link_token=row)
    response = make_response(
        render_template("okta/link.html", user=row.user, org=org, form=form)
    )
    # "Continue to Okta" posts here and is redirected to Okta's origin.
    allow_form_to_okta(response, org)
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
        return render_template("okta/sso_unavailable.html"), 404
    user = current_user._get_current_object()
    problem = backup_session_problem(user)
    if problem:
        return refuse(problem, 403)
    return start_flow(org, url_for("members.show", user_id=user.id), link_user=user)


@bp.post("/okta/test")
@login_required
def test_sign_in() -> Any:
    """Test sign-in with Okta: an owner's or admin's own round trip through Okta.

    It proves the saved settings of one protocol, whether or not members sign
    in with Okta yet, and signs nobody in: its answer only fills in the test
    result shown on Settings, Okta authentication.
    """
    form = TestSignInForm()
    if not form.validate_on_submit():
        return refuse("That request was not understood. Start again.", 400)
    problem = sso_test_problem(Actor.of_user(current_user))
    if problem:
        return refuse(problem, 403)
    org = current_user.organization
    protocol = form.protocol.data
    config = org.sso_config
    if not org.has_paid_plan or config is None or not config.is_saved(protocol):
        flash(f"Save the {protocol.upper()} settings before testing them.", "error")
        return redirect(url_for("settings.okta", protocol=protocol))
    return start_test(org, protocol, current_user._get_current_object())
