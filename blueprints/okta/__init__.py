"""Signing in with Okta, whatever the protocol: the SSO page, the start URL, the
emailed link, and the end of every sign-in (sign in, or explain a refusal).

The protocol blueprints (okta_oidc, okta_saml) build on this one and claim their
protocol with `start.claim_protocol`; this package imports neither of them.
"""

from flask import Blueprint

bp = Blueprint("okta", __name__)

from blueprints.okta import routes  # noqa: E402,F401
