"""Views of the passwords blueprint."""

from __future__ import annotations

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

from blueprints.passwords import bp
from blueprints.passwords.forms import ChangePasswordForm
from blueprints.passwords.forms import ForgotPasswordForm
from blueprints.passwords.forms import NewPasswordForm
from core import passwords
from core.authority import AccountError
from core.sso import sso_available

Page = Response | str | tuple[str, int]


def throttled_words() -> str:
    """How long to wait when a throttle refused (its window, in minutes)."""
    minutes = max(1, round(current_app.config["SIGNIN_FAILURE_WINDOW_SECONDS"] / 60))
    return f"{minutes} minute{'s' * (minutes != 1)}"


@bp.route("/password/forgot", methods=("GET", "POST"))
def forgot() -> Page:
    """ "Forgot your password?": email a link to choose a new one.

    The answer (page and status) is the same whatever the email: unknown,
    deactivated, Okta only, or an account that gets the link. The email is not
    even looked up before the response has been sent (`call_on_close`), so
    neither the page nor its timing says which it was.
    """
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("passwords/forgot.html", form=form), status
    address = request.remote_addr or ""
    if not passwords.accept_reset_request(address):
        form.email.errors.append(
            f"Too many requests from your network. Wait {throttled_words()} and "
            "try again."
        )
        return render_template("passwords/forgot.html", form=form), 429
    response = make_response(render_template("passwords/forgot_sent.html"))
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    email = form.email.data.strip()
    response.call_on_close(lambda: passwords.send_reset_links(app, email, address))
    return response


@bp.route("/password/reset/<token>", methods=("GET", "POST"))
def reset(token: str) -> Response | tuple[Response, int]:
    """The emailed link: choose a new password (a reset, or an invitation)."""
    row = passwords.find_link(token)
    if row is None:
        return _private(render_template("passwords/link_invalid.html"), 404)
    form = NewPasswordForm()
    page = {
        "form": form,
        "user": row.user,
        "org": row.user.organization,
        "invitation": row.purpose == passwords.INVITATION,
    }
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return _private(render_template("passwords/reset.html", **page), status)
    try:
        done = passwords.set_password_by_link(row, form.password.data)
    except AccountError as exc:
        form.password.errors.append(str(exc))
        return _private(render_template("passwords/reset.html", **page), 400)
    if not done:
        return _private(render_template("passwords/link_invalid.html"), 404)
    flash("Your password is set. Sign in with it.", "success")
    return redirect(url_for("login.login"))


def _private(body: str, status: int = 200) -> tuple[Response, int]:
    """A page whose URL holds a secret: no Referer carries it anywhere."""
    response = make_response(body)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response, status


@bp.route("/account/password", methods=("GET", "POST"))
@login_required
def change() -> Page:
    """Change my password: the current one first; every other session ends."""
    user = current_user._get_current_object()
    if user.password_hash is None:
        return render_template(
            "passwords/change.html", form=None, okta=sso_available(user.organization)
        )
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("passwords/change.html", form=form), status
    try:
        result = passwords.change_password(
            user,
            form.current_password.data,
            form.password.data,
            request.remote_addr or "",
        )
    except AccountError as exc:
        form.password.errors.append(str(exc))
        return render_template("passwords/change.html", form=form), 400
    if result == passwords.THROTTLED:
        form.current_password.errors.append(
            f"Too many wrong passwords. Wait {throttled_words()} and try again."
        )
        return render_template("passwords/change.html", form=form), 429
    if result == passwords.WRONG_PASSWORD:
        form.current_password.errors.append("That is not your current password.")
        return render_template("passwords/change.html", form=form), 400
    flash(
        "Your password was changed. Every other session of your account was "
        "signed out; this one carries on.",
        "success",
    )
    return redirect(url_for("members.show", user_id=user.id))
