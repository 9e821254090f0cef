"""Sign in with Okta over SAML 2.0: SP-initiated and from the Okta dashboard."""

from flask import Blueprint

from blueprints.okta.start import claim_protocol
from blueprints.okta_saml.flow import start_saml
from blueprints.okta_saml.flow import start_saml_test

bp = Blueprint("okta_saml", __name__)
claim_protocol(bp, "saml", start_saml, start_saml_test)

from blueprints.okta_saml import routes  # noqa: E402,F401
