"""Views of the members blueprint."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort
from flask import current_app
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_required
from werkzeug.wrappers import Response

from blueprints.members import bp
from blueprints.members import bulk
from blueprints.members.filters import CHOICES
from blueprints.members.filters import LINK_LABELS
from blueprints.members.filters import METHOD_LABELS
from blueprints.members.filters import read_filters
from blueprints.members.forms import INVITE
from blueprints.members.forms import OWN_PASSWORD
from blueprints.members.forms import AddMemberForm
from blueprints.members.forms import InvitationForm
from blueprints.members.forms import LinkEmailForm
from blueprints.members.forms import RemoveIdentityForm
from blueprints.members.forms import RoleForm
from blueprints.members.forms import StatusForm
from blueprints.members.forms import UnlockForm
from blueprints.members.member_view import member_page_parts
from blueprints.members.queries import member_page
from blueprints.okta.start import allow_form_to_okta
from core import authority
from core import linking
from core import passwords
from core.authority import AccountError
from core.authority import Actor
from core.extensions import db
from core.models import OktaIdentity
from core.models import User
from core.params import query_page
from core.provisioning import identities
from core.provisioning import users
from core.security import admin_required
from core.security import same_org_user_or_404
from core.sso import sso_available
from core.urls import MISSING_HELP
from core.urls import public_base_url


@bp.get("")
@login_required
def index() -> tuple[str, int]:
    """List the organization's members, with search, filters and paging.

    A filter value outside its choices answers 400 with what to choose.
    """
    search = request.args.get("q", "")[:200]
    chosen, errors = read_filters(request.args)
    org = current_user.organization
    result = None
    if not errors:
        result = member_page(
            org,
            search=search,
            chosen=chosen,
            page=query_page(),
            per_page=current_app.config["MEMBERS_PER_PAGE"],
        )
    page = render_template(
        "members/index.html",
        result=result,
        search=search,
        chosen=chosen,
        choices=CHOICES,
        errors=errors,
        link_labels=LINK_LABELS,
        method_labels=METHOD_LABELS,
        has_okta=org.sso_config is not None,
        okta_on=sso_available(org),
        bulk_form=LinkEmailForm(),
    )
    return page, 400 if errors else 200


@bp.post("/okta-links")
@admin_required
def email_unlinked() -> Response:
    """Email the link to every active member not linked (bounded, throttled)."""
    if not LinkEmailForm().validate_on_submit():
        abort(400)
    org = current_user.organization
    if not sso_available(org):
        flash("Okta single sign-on is not turned on for this organization.", "error")
    elif public_base_url() is None:
        flash(f"Nothing was sent. {MISSING_HELP}", "error")
    else:
        try:
            flash(*bulk.summary(bulk.email_unlinked(org, actor=current_user)))
        except bulk.AlreadySending:
            flash(
                "The links are being emailed by another click right now: nobody "
                "was emailed twice. Reload in a moment to see who is linked.",
                "info",
            )
    return redirect(url_for("members.index"))


@bp.route("/new", methods=("GET", "POST"))
@admin_required
def new() -> Response | str | tuple[str, int]:
    """Add a member (owners and admins), by default emailing an invitation."""
    form = AddMemberForm()
    can_email = public_base_url() is not None
    page = {"form": form, "can_email": can_email, "missing_help": MISSING_HELP}
    if request.method == "GET":
        form.access.data = INVITE if can_email else OWN_PASSWORD
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("members/new.html", **page), status
    access = form.chosen_access()
    problem = _access_problem(form, access, can_email)
    if problem:
        form.form_errors.append(problem)
        return render_template("members/new.html", **page), 400
    try:
        user = users.add_member(
            current_user.organization,
            actor=current_user,
            email=form.email.data,
            given_name=form.given_name.data or "",
            family_name=form.family_name.data or "",
            role=form.role.data,
            password=form.password.data if access == OWN_PASSWORD else None,
        )
    except AccountError as exc:
        form.form_errors.append(str(exc))
        return render_template("members/new.html", **page), 400
    if access == INVITE:
        _flash_invitation(user, passwords.send_invitation(user, actor=current_user))
    else:
        flash(f"{user.email} was added.", "success")
    return redirect(url_for("members.show", user_id=user.id))


def _access_problem(form: AddMemberForm, access: str, can_email: bool) -> str | None:
    """What is wrong with how the new member is to sign in, or None."""
    if access == OWN_PASSWORD and not form.password.data:
        return "Type the password, or choose another way to sign in."
    if access != OWN_PASSWORD and form.password.data:
        return "A password was typed: choose “Set a password myself” to use it."
    if access == INVITE and not can_email:
        return f"Gatehouse cannot email an invitation. {MISSING_HELP}"
    return None


def _flash_invitation(user: User, result: str) -> None:
    """Flash what became of an invitation email."""
    flash(
        *{
            linking.SENT: (
                f"Emailed {user.email} an invitation to choose a password (the "
                "link works for 7 days).",
                "success",
            ),
            linking.OUTBOX: (
                "No mail server is configured: the invitation for "
                f"{user.email} was written to the server's outbox "
                "(instance/outbox/), not emailed.",
                "info",
            ),
            linking.NO_PUBLIC_URL: (f"Nothing was sent. {MISSING_HELP}", "error"),
        }.get(
            result,
            (
                f"The invitation to {user.email} could not be sent: the mail server "
                "did not accept it (see the server log). Send it again below.",
                "error",
            ),
        )
    )


@bp.get("/<id:user_id>")
@login_required
def show(user_id: int) -> Response:
    """One member: profile, groups, Okta links, and (for admins) role and status."""
    user = same_org_user_or_404(user_id)
    org = current_user.organization
    response = make_response(
        render_template("members/show.html", **member_page_parts(user, org))
    )
    if user.id == current_user.id and sso_available(org):
        allow_form_to_okta(response, org)  # "Link my Okta account" goes to Okta
    return response


def _change(
    user: User, change: Callable[[], object], done: Callable[[], str]
) -> Response:
    """Make a change on the member's page: flash what happened, or why not."""
    try:
        change()
    except AccountError as exc:
        flash(str(exc), "error")
    else:
        flash(done(), "success")
    return redirect(url_for("members.show", user_id=user.id))


@bp.post("/<id:user_id>/role")
@admin_required
def change_role(user_id: int) -> Response:
    """Change a member's role."""
    user = same_org_user_or_404(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        flash("Choose a valid role.", "error")
        return redirect(url_for("members.show", user_id=user.id))
    return _change(
        user,
        lambda: users.change_role(current_user, user, form.role.data),
        lambda: f"{user.email} is now {user.role}.",
    )


@bp.post("/<id:user_id>/status")
@admin_required
def change_status(user_id: int) -> Response:
    """Deactivate or reactivate a member."""
    user = same_org_user_or_404(user_id)
    form = StatusForm()
    if not form.validate_on_submit():
        flash("That request was not understood.", "error")
        return redirect(url_for("members.show", user_id=user.id))
    return _change(
        user,
        lambda: users.set_status(current_user, user, form.status.data),
        lambda: (
            f"{user.email} was "
            + ("reactivated." if user.is_active else "deactivated and signed out.")
        ),
    )


def _link_email_result(user: User, result: str) -> tuple[str, str]:
    """The flash (message, category) saying what became of a link email."""
    return {
        linking.SENT: (
            f"Emailed {user.email} a link to confirm and link Okta.",
            "success",
        ),
        linking.NO_PUBLIC_URL: (f"Nothing was sent. {MISSING_HELP}", "error"),
        linking.OUTBOX: (
            f"No mail server is configured: the link for {user.email} was written "
            "to the server's outbox (instance/outbox/), not emailed.",
            "info",
        ),
    }.get(
        result,
        (
            f"The email to {user.email} could not be sent: the mail server did "
            "not accept it (see the server log). Nothing was sent.",
            "error",
        ),
    )


@bp.post("/<id:user_id>/okta-link")
@admin_required
def send_okta_link(user_id: int) -> Response:
    """Email a member a fresh link to confirm and link their Okta account."""
    user = same_org_user_or_404(user_id)
    if not LinkEmailForm().validate_on_submit():
        abort(400)
    refused = authority.refusal(Actor.of_user(current_user), "send_link", user)
    if refused is not None:
        flash(str(refused), "error")
    elif not sso_available(current_user.organization):
        flash("Okta single sign-on is not set up for this organization.", "error")
    elif not user.is_active:
        flash("Reactivate the member first.", "error")
    else:
        flash(
            *_link_email_result(user, linking.send_link_email(user, actor=current_user))
        )
    return redirect(url_for("members.show", user_id=user.id))


@bp.post("/<id:user_id>/identities/<id:identity_id>/remove")
@admin_required
def remove_identity(user_id: int, identity_id: int) -> Response:
    """Unlink one Okta identity of a member (owners' only by owners)."""
    user = same_org_user_or_404(user_id)
    identity = db.one_or_404(
        db.select(OktaIdentity).filter_by(id=identity_id, user_id=user.id)
    )
    if not RemoveIdentityForm().validate_on_submit():
        abort(400)
    return _change(
        user,
        lambda: identities.remove_identity(current_user, identity),
        lambda: (
            f"The Okta link of {user.email} was removed; Okta sign-in no longer "
            "reaches this account through it."
        ),
    )


@bp.post("/<id:user_id>/invitation")
@admin_required
def send_invitation(user_id: int) -> Response:
    """Email a member without a password an invitation to choose one."""
    user = same_org_user_or_404(user_id)
    if not InvitationForm().validate_on_submit():
        abort(400)
    try:
        result = passwords.send_invitation(user, actor=current_user)
    except AccountError as exc:
        flash(str(exc), "error")
    else:
        _flash_invitation(user, result)
    return redirect(url_for("members.show", user_id=user.id))


@bp.post("/<id:user_id>/unlock")
@admin_required
def unlock(user_id: int) -> Response:
    """Clear a member's password sign-in lockout (owners' only by owners)."""
    user = same_org_user_or_404(user_id)
    if not UnlockForm().validate_on_submit():
        abort(400)
    return _change(
        user,
        lambda: users.unlock(current_user, user),
        lambda: f"{user.email} can try their password again.",
    )
