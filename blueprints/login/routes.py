"""Views of the login blueprint."""

from __future__ import annotations

import hashlib
import hmac
import time

from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import SelectChoice

from blueprints.login import bp
from blueprints.login import sign_in
from blueprints.login.forms import ChooseOrganizationForm
from blueprints.login.forms import LoginForm
from blueprints.login.forms import LogoutForm
from blueprints.universal_logout.pages import okta_required_page
from core import first_run
from core.extensions import db
from core.models import User
from core.require_okta import password_allowed
from core.security import safe_next_url
from core.universal_logout import okta_required

# How long the "choose your organization" step stays open after the password.
CHOICE_SECONDS = 300


def after_sign_in(next_url: str | None) -> Response:
    """Redirect to `next` when it is a local path, else to the members page."""
    return redirect(safe_next_url(next_url) or url_for("members.index"))


@bp.get("/")
def index() -> Response:
    """Send people where they belong: setup, sign-in, or the members list."""
    if current_user.is_authenticated:
        return redirect(url_for("members.index"))
    if first_run.setup_needed():
        return redirect(url_for("login.setup"))
    return redirect(url_for("login.login"))


@bp.route("/login", methods=("GET", "POST"))
def login() -> Response | str | tuple[str, int]:
    """Sign in with email and password."""
    if first_run.setup_needed():
        return redirect(url_for("login.setup"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        if current_user.is_authenticated:
            return after_sign_in(form.next.data)
    if not form.validate_on_submit():
        return render_template("login/login.html", form=form)
    attempt = sign_in.check_password(
        form.email.data.strip(), form.password.data, request.remote_addr or ""
    )
    if attempt.outcome == sign_in.THROTTLED:
        form.password.errors.append(throttled_message())
        return render_template("login/login.html", form=form), 429
    if attempt.outcome == sign_in.OKTA_ONLY:
        form.password.errors.append("This account signs in with Okta.")
        return render_template("login/login.html", form=form, okta_only=True), 401
    if attempt.outcome == sign_in.OKTA_REQUIRED:
        return render_template("login/okta_required.html", next=form.next.data), 403
    if attempt.outcome == sign_in.WRONG_PASSWORD:
        form.password.errors.append("Wrong email or password.")
        return render_template("login/login.html", form=form), 401
    if not attempt.active:
        return render_template("login/inactive.html"), 403
    if len(attempt.active) == 1:
        return finish_password_sign_in(attempt.active[0], form.next.data)
    return choose_organization(attempt.active, form.next.data)


def throttled_message() -> str:
    """What a person reads when password sign-in is locked for a while."""
    minutes = max(1, round(current_app.config["SIGNIN_FAILURE_WINDOW_SECONDS"] / 60))
    return (
        f"Too many failed sign-ins. Wait {minutes} minute{'s' * (minutes != 1)} "
        "and try again, or ask an administrator to check your account."
    )


def choose_organization(users: list[User], next_url: str | None) -> Response:
    """Several accounts opened: remember them for a while and ask which one."""
    session["choose"] = {
        "ids": [user.id for user in users],
        "marks": {str(user.id): password_mark(user) for user in users},
        "at": time.time(),
        "next": next_url or "",
    }
    return redirect(url_for("login.choose"))


def password_mark(user: User) -> str:
    """A keyed fingerprint of the account's current password hash.

    The pending choice lives in the (signed, readable) cookie; with this mark it
    dies when the password it was earned with is reset or changed.
    """
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, (user.password_hash or "").encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def finish_password_sign_in(
    user: User, next_url: str | None
) -> Response | tuple[str, int]:
    """Start the session of `user`, audit it, and redirect (unless Okta
    Universal Logout signed them out: then only Okta lets them in)."""
    if okta_required(user):
        return okta_required_page(user)
    if not sign_in.start_password_session(user):
        return render_template("login/okta_required.html", next=next_url), 403
    return after_sign_in(next_url)


@bp.route("/login/choose", methods=("GET", "POST"))
def choose() -> Response | str | tuple[str, int]:
    """Choose among the organizations whose account the password opened."""
    pending = session.get("choose")
    if not pending or time.time() - pending.get("at", 0) > CHOICE_SECONDS:
        session.pop("choose", None)
        flash("Please sign in again.", "info")
        return redirect(url_for("login.login"))
    users = (
        db.session.execute(
            db.select(User).where(User.id.in_(pending["ids"])).order_by(User.id)
        )
        .scalars()
        .all()
    )
    marks = pending.get("marks", {})
    users = [
        user
        for user in users
        if user.is_active
        and password_allowed(user)
        and hmac.compare_digest(marks.get(str(user.id), ""), password_mark(user))
    ]
    form = ChooseOrganizationForm()
    form.account.choices = [
        SelectChoice(user.id, user.organization.name) for user in users
    ]
    if form.validate_on_submit():
        user = next(user for user in users if user.id == form.account.data)
        return finish_password_sign_in(user, pending.get("next"))
    return render_template("login/choose.html", form=form)


@bp.route("/logout", methods=("GET", "POST"))
def logout() -> Response | str:
    """Sign out (POST); GET asks for confirmation so links cannot sign anyone out."""
    if not current_user.is_authenticated:
        return redirect(url_for("login.login"))
    form = LogoutForm()
    if form.validate_on_submit():
        sign_in.sign_out(current_user._get_current_object())
        flash("You are signed out.", "success")
        return redirect(url_for("login.login"))
    return render_template("login/logout.html", form=form)
