"""Password sign-in, sign-out, first-run setup, and the front door."""

from flask import Blueprint

bp = Blueprint("login", __name__)

from blueprints.login import backup  # noqa: E402,F401
from blueprints.login import routes  # noqa: E402,F401
from blueprints.login import setup  # noqa: E402,F401
