"""Sign in with Okta over OpenID Connect (SP-initiated, authorization code + PKCE)."""

from flask import Blueprint

bp = Blueprint("okta_oidc", __name__)

from blueprints.okta_oidc import routes  # noqa: E402,F401
