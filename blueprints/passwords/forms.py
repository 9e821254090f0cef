"""Forms of the passwords blueprint."""

from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms import PasswordField
from wtforms.validators import DataRequired
from wtforms.validators import EqualTo
from wtforms.validators import Length

from core.security import MIN_PASSWORD_LENGTH

NEW_PASSWORD_HELP = f"At least {MIN_PASSWORD_LENGTH} characters."


class ForgotPasswordForm(FlaskForm):
    """The email whose password was forgotten."""

    email = EmailField(
        "Email", validators=[DataRequired("Enter your email."), Length(max=320)]
    )


class NewPasswordForm(FlaskForm):
    """A new password, typed twice (the emailed link's page)."""

    password = PasswordField(
        "New password",
        validators=[DataRequired("Choose a password."), Length(max=1000)],
        description=NEW_PASSWORD_HELP,
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("password", "The passwords differ.")],
    )


class ChangePasswordForm(NewPasswordForm):
    """The current password, then a new one typed twice."""

    current_password = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password."), Length(max=1000)],
    )
