"""Forms of the settings blueprint."""

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length


class RenameForm(FlaskForm):
    """Rename the organization (owners only)."""

    name = StringField(
        "Organization name",
        validators=[DataRequired(), Length(max=100)],
        description="Members type this name on the SSO sign-in page.",
    )


class ScimSyncForm(FlaskForm):
    """Switch SCIM provisioning on or off."""

    enabled = BooleanField("Sync the groups & users from your SSO provider")
