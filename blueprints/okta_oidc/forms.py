"""Forms of the okta_oidc blueprint."""

from flask_wtf import FlaskForm


class ContinueForm(FlaskForm):
    """A button that POSTs with a CSRF token (continue to Okta, resend the email)."""
