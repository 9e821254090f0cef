"""The audit log page (owners and admins)."""

from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/audit")

from blueprints.audit import routes  # noqa: E402,F401
