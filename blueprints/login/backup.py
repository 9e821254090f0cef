"""The backup sign-in page, `/login/backup`: the documented way in when Okta
sign-in is required and Okta fails.

An owner signs in with their email and one of their recovery codes (a session
of at most 4 hours, `core.recovery_codes`); an exempt account signs in with its
password, through the same check as the login page (`sign_in.check_password`,
which asks `core.require_okta` who may use a password). Both are throttled
like the login page. Outside scripts and printed instructions rely on this URL.
"""

from __future__ import annotations

from flask import render_template
from flask import request
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import EmailField
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length

from blueprints.login import bp
from blueprints.login import sign_in
from blueprints.login.routes import after_sign_in
from blueprints.login.routes import choose_organization
from blueprints.login.routes import finish_password_sign_in
from blueprints.login.routes import throttled_message
from core import recovery_codes

Page = str | tuple[str, int] | Response


class RecoveryCodeForm(FlaskForm):
    """An owner's email and one of their recovery codes."""

    email = EmailField("Owner's email", validators=[DataRequired(), Length(max=320)])
    code = StringField(
        "Recovery code",
        validators=[DataRequired(), Length(max=100)],
        description="One of the ten codes you saved, e.g. 7KQ2M-X9D4T-0BHNV-R3W8P. "
        "Each works once.",
    )
    next = HiddenField()


class ExemptPasswordForm(FlaskForm):
    """An exempt account's email and password."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])
    next = HiddenField()


def render_backup(
    code_form: RecoveryCodeForm | None = None,
    password_form: ExemptPasswordForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """The backup page with both forms (prefixed, so their fields never mix)."""
    return render_template(
        "login/backup.html",
        code_form=code_form or RecoveryCodeForm(prefix="code"),
        password_form=password_form or ExemptPasswordForm(prefix="password"),
    ), status


@bp.get("/login/backup")
def backup() -> Page:
    """The backup sign-in page."""
    if current_user.is_authenticated:
        return after_sign_in(request.args.get("next"))
    code_form = RecoveryCodeForm(prefix="code")
    code_form.next.data = request.args.get("next", "")
    return render_backup(code_form)


@bp.post("/login/backup")
def backup_code() -> Page:
    """Sign in with a recovery code (owners)."""
    form = RecoveryCodeForm(prefix="code")
    if not form.validate_on_submit():
        return render_backup(form, status=400)
    result = recovery_codes.redeem(
        form.email.data.strip(), form.code.data, request.remote_addr or ""
    )
    if result.outcome == recovery_codes.THROTTLED:
        form.code.errors.append(throttled_message())
        return render_backup(form, status=429)
    if result.outcome != recovery_codes.ACCEPTED or result.user is None:
        form.code.errors.append(
            "That is not a recovery code of this owner, or it was used already."
        )
        return render_backup(form, status=401)
    recovery_codes.start_backup_session(result.user, request.remote_addr or "")
    return after_sign_in(form.next.data)


@bp.post("/login/backup/password")
def backup_password() -> Page:
    """Sign in with a password (exempt accounts, or organizations that do not
    require Okta)."""
    form = ExemptPasswordForm(prefix="password")
    if not form.validate_on_submit():
        return render_backup(password_form=form, status=400)
    attempt = sign_in.check_password(
        form.email.data.strip(), form.password.data, request.remote_addr or ""
    )
    if attempt.outcome == sign_in.THROTTLED:
        form.password.errors.append(throttled_message())
        return render_backup(password_form=form, status=429)
    if attempt.outcome != sign_in.MATCHED:
        form.password.errors.append(
            "Wrong email or password, or this account is not exempt from Okta "
            "sign-in (owners: use a recovery code above)."
        )
        return render_backup(password_form=form, status=401)
    if not attempt.active:
        return render_template("login/inactive.html"), 403
    if len(attempt.active) == 1:
        return finish_password_sign_in(attempt.active[0], form.next.data)
    return choose_organization(attempt.active, form.next.data)
