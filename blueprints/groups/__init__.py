"""Groups of the organization (pushed from Okta over SCIM), read-only in the UI."""

from flask import Blueprint

bp = Blueprint("groups", __name__, url_prefix="/groups")

from blueprints.groups import routes  # noqa: E402,F401
