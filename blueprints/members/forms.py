"""Forms of the members blueprint."""

from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import RadioField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import StringField
from wtforms.validators import AnyOf
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import ValidationError

from core.models import ROLES

ROLE_CHOICES = [SelectChoice(role, role.capitalize()) for role in ROLES]

INVITE = "invite"
OWN_PASSWORD = "password"
NO_PASSWORD = "none"
ACCESS_CHOICES = [
    SelectChoice(INVITE, "Email them an invitation to choose their password"),
    SelectChoice(OWN_PASSWORD, "Set a password myself"),
    SelectChoice(NO_PASSWORD, "No password: they sign in with Okta"),
]


class AddMemberForm(FlaskForm):
    """Add a person to the organization."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    given_name = StringField("First name", validators=[Length(max=200)])
    family_name = StringField("Last name", validators=[Length(max=200)])
    role = SelectField("Role", choices=ROLE_CHOICES, default="member")
    # Checked by validate_access: a form posted without a choice is accepted.
    access = RadioField(
        "How they sign in", choices=ACCESS_CHOICES, validate_choice=False
    )
    password = PasswordField(
        "Password",
        validators=[Length(max=1000)],
        description="Only with “Set a password myself”: tell it to them through "
        "a channel you trust. They can change it once signed in.",
    )

    def validate_access(self, field: RadioField) -> None:
        """Refuse a choice that is not one of ACCESS_CHOICES."""
        if field.data and field.data not in (INVITE, OWN_PASSWORD, NO_PASSWORD):
            raise ValidationError("Choose how they sign in.")

    def chosen_access(self) -> str:
        """The choice made; a form posted without one (an older page or a
        script) means a password when it typed one, else an invitation."""
        if self.access.data:
            return self.access.data
        return OWN_PASSWORD if self.password.data else INVITE


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


class InvitationForm(FlaskForm):
    """A CSRF-protected POST to email a member the invitation to choose a password."""


class UnlockForm(FlaskForm):
    """A CSRF-protected POST to clear a member's password sign-in lockout."""
