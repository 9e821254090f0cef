"""The organization overview and its settings (settings: owners and admins)."""

from flask import Blueprint

bp = Blueprint("settings", __name__)

from blueprints.settings import health  # noqa: E402,F401
from blueprints.settings import okta  # noqa: E402,F401
from blueprints.settings import require_okta  # noqa: E402,F401
from blueprints.settings import rollout  # noqa: E402,F401
from blueprints.settings import routes  # noqa: E402,F401
