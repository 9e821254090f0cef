"""The members list and member management (owners and admins change things)."""

from flask import Blueprint

bp = Blueprint("members", __name__, url_prefix="/members")

from blueprints.members import routes  # noqa: E402,F401
