"""Forms of the members blueprint."""

from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import StringField
from wtforms.validators import AnyOf
from wtforms.validators import DataRequired
from wtforms.validators import Length

from core.models import ROLES

ROLE_CHOICES = [SelectChoice(role, role.capitalize()) for role in ROLES]


class AddMemberForm(FlaskForm):
    """Add a person to the organization."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    given_name = StringField("First name", validators=[Length(max=200)])
    family_name = StringField("Last name", validators=[Length(max=200)])
    role = SelectField("Role", choices=ROLE_CHOICES, default="member")
    password = PasswordField(
        "Initial password (optional)",
        validators=[Length(max=1000)],
        description="Leave empty for people who will sign in with Okta only.",
    )


class RoleForm(FlaskForm):
    """Change a member's role."""

    role = SelectField("Role", choices=ROLE_CHOICES)


class StatusForm(FlaskForm):
    """Deactivate or reactivate a member."""

    status = HiddenField(validators=[AnyOf(["active", "inactive"])])


class LinkEmailForm(FlaskForm):
    """A CSRF-protected POST to email a member the Okta link."""


class RemoveIdentityForm(FlaskForm):
    """A CSRF-protected POST to unlink one Okta identity."""


class UnlockForm(FlaskForm):
    """A CSRF-protected POST to clear a member's password sign-in lockout."""
