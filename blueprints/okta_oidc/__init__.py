"""Sign in with Okta over OpenID Connect (SP-initiated, authorization code + PKCE)."""

from flask import Blueprint

from blueprints.okta.start import claim_protocol
from blueprints.okta_oidc.flow import start_oidc
from blueprints.okta_oidc.flow import start_oidc_test

bp = Blueprint("okta_oidc", __name__)
claim_protocol(bp, "oidc", start_oidc, start_oidc_test)

from blueprints.okta_oidc import routes  # noqa: E402,F401
