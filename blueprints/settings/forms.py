"""Forms of the settings blueprint."""

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import HiddenField
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
    """The Single sign on (SSO) Authentication drop-down.

    None turns Okta sign-in off only when posted again with confirm "yes",
    after the page showed who would be left without a way in.
    """

    provider = SelectField(
        "Single sign on (SSO) Authentication",
        choices=[SelectChoice("none", "None"), SelectChoice("okta", "Okta")],
    )
    confirm = HiddenField()


class OktaForm(FlaskForm):
    """The OKTA AUTHENTICATION form of one protocol (`protocol`, chosen first).

    No field validators: `core.sso` checks every value (and fetches the
    metadata) and reports every problem at once, by field.
    """

    protocol = RadioField(
        "Protocol",
        choices=[SelectChoice("oidc", "OIDC"), SelectChoice("saml", "SAML")],
        default="oidc",
    )
    default_role = SelectField(
        "Default role for new members",
        choices=[SelectChoice("member", "Member"), SelectChoice("admin", "Admin")],
        description="Given to people Okta creates (just in time or by SCIM).",
    )
    client_id = StringField("Client ID", description="From the app's General tab.")
    client_secret = PasswordField(
        "Client secret",
        description="From the app's General tab; stored encrypted, never shown again.",
    )
    metadata_url = URLField(
        "OpenID Provider metadata URL",
        description="https://{your-org}.okta.com/.well-known/openid-configuration",
    )
    saml_metadata_url = URLField(
        "Identity Provider metadata URL",
        description="From the app's Sign On tab in Okta.",
    )
    # A save that moves live sign-in to another Okta is asked again: "yes".
    confirm = HiddenField()
    send_links = RadioField(
        "Link emails",
        choices=[
            SelectChoice("yes", "Email them the link now"),
            SelectChoice("no", "Don't send it now"),
        ],
        validate_choice=False,
    )


class TurnOnForm(FlaskForm):
    """Turn on for everyone: first the preview, then (confirm "yes") on."""

    protocol = HiddenField()
    confirm = HiddenField()
    send_links = RadioField(
        "Link emails",
        choices=[
            SelectChoice("yes", "Email them the link now"),
            SelectChoice("no", "Don't send it now: I will send it from Members"),
        ],
        validate_choice=False,
    )


class RefreshMetadataForm(FlaskForm):
    """The Refresh metadata button (SAML)."""


class DashboardSignInForm(FlaskForm):
    """Allow sign-in started from the Okta dashboard (SAML, IdP-initiated)."""

    enabled = BooleanField("Allow sign-in from the Okta dashboard")
