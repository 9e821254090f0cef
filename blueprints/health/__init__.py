"""The health check a load balancer polls: /healthz."""

from flask import Blueprint

bp = Blueprint("health", __name__)

from blueprints.health import routes  # noqa: E402,F401
