"""The Universal Logout settings form."""

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import StringField
from wtforms.validators import Length


class UniversalLogoutForm(FlaskForm):
    """Switches, and the SAML organization's Okta address and app id."""

    enabled = BooleanField("Accept Universal Logout from Okta")
    revoke_personal_keys = BooleanField(
        "Universal Logout also suspends personal keys",
        description=(
            "Okta's logout then revokes the person's personal API keys too "
            "(organization keys are never touched)."
        ),
    )
    okta_url = StringField(
        "Okta URL",
        validators=[Length(max=200)],
        description="Your Okta address, such as https://acme.okta.com.",
    )
    app_id = StringField(
        "App instance id",
        validators=[Length(max=100)],
        description=(
            "The id of the Gatehouse app in Okta: the part after /instance/ in "
            "the app's address in the Okta Admin Console (0oa…)."
        ),
    )
