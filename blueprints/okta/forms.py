"""Forms of the okta blueprint."""

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length


class ContinueForm(FlaskForm):
    """A button that POSTs with a CSRF token (continue to Okta, resend the email)."""


class TestSignInForm(FlaskForm):
    """Test sign-in with Okta: which protocol's saved settings to test."""

    protocol = SelectField(
        choices=[SelectChoice("oidc", "OIDC"), SelectChoice("saml", "SAML")]
    )


class SsoOrganizationForm(FlaskForm):
    """The organization name, first step of single sign-on."""

    organization = StringField(
        "Organization name", validators=[DataRequired(), Length(max=100)]
    )
    next = HiddenField()
