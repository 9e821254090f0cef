"""Okta Universal Logout: the endpoint Okta calls, and its settings page.

`routes.py` is `POST /api/v1/okta/universal-logout` (CSRF-exempt, JSON, one URL
for every organization); `pages.py` is `/settings/okta/universal-logout` and
the page a password sign-in gets after Okta logged the person out.
"""

from flask import Blueprint

from core.errors import render_errors_under
from core.universal_logout import ENDPOINT_PATH

bp = Blueprint("universal_logout", __name__)

from blueprints.universal_logout import pages  # noqa: E402,F401
from blueprints.universal_logout import routes  # noqa: E402

bp.record_once(
    lambda state: render_errors_under(state.app, ENDPOINT_PATH, routes.http_error)
)
