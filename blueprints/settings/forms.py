"""Forms of the settings blueprint."""

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import PasswordField
from wtforms import RadioField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import StringField
from wtforms import URLField
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


class SsoProviderForm(FlaskForm):
    """The Single sign on (SSO) Authentication drop-down."""

    provider = SelectField(
        "Single sign on (SSO) Authentication",
        choices=[SelectChoice("none", "None"), SelectChoice("okta", "Okta")],
    )


class OktaForm(FlaskForm):
    """The OKTA AUTHENTICATION page."""

    default_role = SelectField(
        "Default role for new members",
        choices=[SelectChoice("member", "Member"), SelectChoice("admin", "Admin")],
        description="Given to people Okta creates (just in time or by SCIM).",
    )
    protocol = RadioField(
        "Protocol",
        choices=[SelectChoice("oidc", "OIDC"), SelectChoice("saml", "SAML")],
        default="oidc",
    )
    client_id = StringField(
        "Client ID",
        validators=[Length(max=300)],
        description="From the app's General tab.",
    )
    client_secret = PasswordField(
        "Client secret",
        validators=[Length(max=500)],
        description="Stored encrypted; leave empty to keep the saved one.",
    )
    metadata_url = URLField(
        "OpenID Provider metadata URL",
        validators=[Length(max=1000)],
        description="https://{your-org}.okta.com/.well-known/openid-configuration",
    )
    saml_metadata_url = URLField(
        "Identity Provider metadata URL",
        validators=[Length(max=1000)],
        description="From the app's Sign On tab in Okta.",
    )


class RefreshMetadataForm(FlaskForm):
    """The Refresh metadata button (SAML)."""


class DashboardSignInForm(FlaskForm):
    """Allow sign-in started from the Okta dashboard (SAML, IdP-initiated)."""

    enabled = BooleanField("Allow sign-in from the Okta dashboard")
