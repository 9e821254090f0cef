"""Forms of the api_keys blueprint."""

from flask_wtf import FlaskForm
from wtforms import RadioField
from wtforms import SelectChoice
from wtforms import SelectMultipleField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.widgets import CheckboxInput
from wtforms.widgets import ListWidget

from core.security import SCOPES

SCOPE_HELP = {"scim": "SCIM provisioning from Okta (users and groups)"}
# What the form starts with; with scim, an owner or admin starts from an
# organization key (routes.create_form).
DEFAULT_SCOPES = ("scim",)


class CreateKeyForm(FlaskForm):
    """Create a key."""

    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=100)],
        description=(
            "What the key is for, e.g. “Okta provisioning”. No other live key"
            " of the organization (or, for a personal key, of yours) may have it."
        ),
    )
    kind = RadioField(
        "Kind",
        choices=[
            SelectChoice(
                "personal",
                "Personal: acts as you, stops working if you are deactivated",
            ),
            SelectChoice("organization", "Organization: belongs to the organization"),
        ],
        default="personal",
    )
    role = RadioField(
        "An organization key acts as",
        choices=[
            SelectChoice("admin", "Admin: manages members and admins, not owners"),
            SelectChoice("owner", "Owner: may also change owners (owners only)"),
        ],
        default="admin",
    )
    scopes = SelectMultipleField(
        "Scopes",
        choices=[
            SelectChoice(scope, f"{scope}: {SCOPE_HELP[scope]}") for scope in SCOPES
        ],
        default=DEFAULT_SCOPES,
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        validators=[DataRequired("Choose at least one scope.")],
    )


class RevokeKeyForm(FlaskForm):
    """A CSRF-protected POST to revoke one key."""
