"""Passwords: change my password, "Forgot your password?", and the emailed link
that chooses a new one (a reset, or a new member's invitation)."""

from flask import Blueprint

bp = Blueprint("passwords", __name__)

from blueprints.passwords import routes  # noqa: E402,F401
