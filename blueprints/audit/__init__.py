"""The audit log page (owners and admins)."""

from flask import Blueprint

from blueprints.audit.text import soft_breaks

bp = Blueprint("audit", __name__, url_prefix="/audit")
# The provisioning activity (settings) uses it too: an app-wide filter.
bp.add_app_template_filter(soft_breaks, "soft_breaks")

from blueprints.audit import routes  # noqa: E402,F401
