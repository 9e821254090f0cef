"""Forms of the login blueprint."""

from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import RadioField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import EqualTo
from wtforms.validators import Length

from core.models import PLANS

PLAN_LABELS = {
    "free": "Free: password sign-in only",
    "pro": "Pro: Okta single sign-on and SCIM provisioning",
    "enterprise": "Enterprise: Okta single sign-on and SCIM provisioning",
}


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])
    next = HiddenField()


class ChooseOrganizationForm(FlaskForm):
    """Pick one of several organizations whose account the password opened."""

    account = RadioField("Organization", coerce=int, validators=[DataRequired()])


class LogoutForm(FlaskForm):
    """A POST with a CSRF token, so that no other site can sign a person out."""


class SetupForm(FlaskForm):
    """First run: the setup code, the first organization and its owner."""

    setup_code = StringField(
        "Setup code",
        validators=[DataRequired("Enter the setup code."), Length(max=100)],
        description="Printed in the server's output when it started.",
    )
    public_url = StringField(
        "Gatehouse's public address",
        validators=[Length(max=200)],
        description=(
            "The address your people and Okta use to reach Gatehouse, e.g. "
            "https://gatehouse.example.com. Filled in from this browser's address "
            "bar: change it if people reach Gatehouse through another name. "
            "Every emailed link and every value you paste into Okta is built from "
            "it, never from a request."
        ),
    )
    organization = StringField(
        "Organization name",
        validators=[DataRequired("Enter your organization's name."), Length(max=100)],
        description="People type this name to sign in with SSO.",
    )
    # A self-hosted install is set up to use what it was installed for: Okta
    # sign-in and SCIM. Free is for trying the app without them.
    plan = SelectField(
        "Plan",
        choices=[SelectChoice(plan, PLAN_LABELS[plan]) for plan in PLANS],
        default="pro",
        description=(
            "Choose Pro (or Enterprise: the same features on your own install) "
            "to use Okta single sign-on and SCIM provisioning. Free has password "
            "sign-in only; whoever runs the server can switch it later with "
            ".venv/bin/flask org set-plan."
        ),
    )
    # The owner is usually the first user Okta reads (GET /Users?count=1): a
    # real name there, not one made up from the email.
    given_name = StringField(
        "Your first name",
        validators=[DataRequired("Enter your first name."), Length(max=200)],
    )
    family_name = StringField(
        "Your last name",
        validators=[DataRequired("Enter your last name."), Length(max=200)],
    )
    email = EmailField(
        "Your email", validators=[DataRequired("Enter your email."), Length(max=320)]
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired("Choose a password."), Length(max=1000)],
    )
    confirm = PasswordField(
        "Repeat the password",
        validators=[
            DataRequired("Repeat the password."),
            EqualTo("password", "The passwords differ."),
        ],
    )
