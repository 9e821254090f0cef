"""API keys: organization keys (owners and admins) and personal keys (everyone)."""

from flask import Blueprint

bp = Blueprint("api_keys", __name__, url_prefix="/api-keys")

from blueprints.api_keys import routes  # noqa: E402,F401
