"""Sign in with Okta over SAML 2.0: SP-initiated and from the Okta dashboard."""

from flask import Blueprint

bp = Blueprint("okta_saml", __name__)

from blueprints.okta_saml import routes  # noqa: E402,F401
