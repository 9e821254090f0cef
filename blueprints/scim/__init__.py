"""SCIM 2.0 service provider at /api/v1/scim (RFC 7643/7644, as Okta and Entra use it).

This module only makes the blueprint and wires its parts: `auth` resolves the
API key before each request, the views of `discovery`, `users` and `groups` are
routed below, `activity` records each request and commits its work after it,
and `http` answers every failure in SCIM's error format.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint
from werkzeug.exceptions import HTTPException

from blueprints.scim import activity
from blueprints.scim import auth
from blueprints.scim import discovery
from blueprints.scim import groups
from blueprints.scim import http
from blueprints.scim import users
from blueprints.scim.errors import ScimError
from core.errors import render_errors_under
from core.extensions import csrf
from core.urls import PublicUrlMissing

bp = Blueprint("scim", __name__, url_prefix=http.SCIM_PATH)
csrf.exempt(bp)

# (method, URL under SCIM_PATH, view): every endpoint the API serves.
ROUTES: tuple[tuple[str, str, Callable], ...] = (
    ("GET", "/ServiceProviderConfig", discovery.get_service_provider_config),
    ("GET", "/ResourceTypes", discovery.list_resource_types),
    ("GET", "/ResourceTypes/<name>", discovery.get_resource_type),
    ("GET", "/Schemas", discovery.list_schemas),
    ("GET", "/Schemas/<path:schema_id>", discovery.get_schema),
    ("POST", "/.search", discovery.search_everything),
    ("GET", "/Users", users.list_users),
    ("POST", "/Users", users.create_user),
    ("GET", "/Users/<user_id>", users.get_user),
    ("PUT", "/Users/<user_id>", users.replace_user),
    ("PATCH", "/Users/<user_id>", users.patch_user),
    ("DELETE", "/Users/<user_id>", users.delete_user),
    ("GET", "/Groups", groups.list_groups),
    ("POST", "/Groups", groups.create_group),
    ("GET", "/Groups/<group_id>", groups.get_group),
    ("PUT", "/Groups/<group_id>", groups.replace_group),
    ("PATCH", "/Groups/<group_id>", groups.patch_group),
    ("DELETE", "/Groups/<group_id>", groups.delete_group),
)

for method, rule, view in ROUTES:
    bp.add_url_rule(rule, view_func=view, methods=[method])

bp.before_request(auth.authenticate)
bp.after_request(activity.finish_request)
bp.register_error_handler(ScimError, http.handle_scim_error)
bp.register_error_handler(HTTPException, http.handle_http_error)
bp.register_error_handler(PublicUrlMissing, http.handle_no_public_url)
bp.register_error_handler(Exception, http.handle_unexpected)
bp.record_once(
    lambda state: render_errors_under(state.app, http.SCIM_PATH, http.unmatched_error)
)
