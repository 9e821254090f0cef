"""Gatehouse: sign in with Okta (OIDC or SAML) and SCIM provisioning for a team.

`create_app()` is the only entry point: `flask` finds it here, and production runs
`gunicorn 'app:create_app()'`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import default_config
from core import first_run
from core import housekeeping
from core.commands import register_commands
from core.errors import register_error_handlers
from core.extensions import csrf
from core.extensions import db
from core.extensions import login_manager
from core.extensions import migrate
from core.extensions import oauth
from core.params import RowIdConverter
from core.security import SessionInterface
from core.security import add_security_headers


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create and configure the Gatehouse application.

    Configuration, later wins: `default_config.py`, `instance/config.py`, then
    environment variables of the same names. `test_config` replaces the last two.
    The instance folder is `./instance`, or `GATEHOUSE_INSTANCE` (or the test
    config's `INSTANCE_PATH`) when set. A test config with TESTING leaves
    automatic pruning off unless it sets HOUSEKEEPING_AUTOMATIC.
    """
    test_config = dict(test_config or {})
    instance_path = test_config.pop("INSTANCE_PATH", None) or os.environ.get(
        "GATEHOUSE_INSTANCE"
    )
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=os.path.abspath(instance_path) if instance_path else None,
    )
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_object(default_config)
    if test_config:
        app.config.update(test_config)
        # Tests see every row they write: automatic pruning (which adds a
        # site_setting row and deletes old ones after a response) only where
        # a test asks for it.
        if app.testing and "HOUSEKEEPING_AUTOMATIC" not in test_config:
            app.config["HOUSEKEEPING_AUTOMATIC"] = False
    else:
        app.config.from_pyfile("config.py", silent=True)
        load_environment(app)
    finish_config(app)

    init_extensions(app)
    app.url_map.converters["id"] = RowIdConverter
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    housekeeping.init_app(app)
    app.after_request(add_security_headers)
    if app.config["TRUST_PROXY"]:
        hops = int(app.config["TRUST_PROXY"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    if not app.testing:
        first_run.announce_setup_code(app)
    return app


def load_environment(app: Flask) -> None:
    """Override settings from environment variables named like the settings.

    Values are parsed as the default's type: "1/true/yes/on" for booleans.
    """
    for name in [*dir(default_config), "SECRET_KEY"]:
        if not name.isupper() or name not in os.environ:
            continue
        raw = os.environ[name]
        default = getattr(default_config, name, "")
        if isinstance(default, bool):
            value: Any = raw.strip().lower() in ("1", "true", "yes", "on")
        elif isinstance(default, int):
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(
                    f"Environment variable {name}={raw!r} must be a whole number."
                ) from None
        else:
            value = raw
        app.config[name] = value


def finish_config(app: Flask) -> None:
    """Derive the settings that depend on others: secret key, database URL."""
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_or_create_secret_key(Path(app.instance_path))
    url = app.config.get("SQLALCHEMY_DATABASE_URI") or app.config["DATABASE_URL"]
    app.config["SQLALCHEMY_DATABASE_URI"] = database_uri(
        url or "sqlite:///" + os.path.join(app.instance_path, "gatehouse.sqlite")
    )
    app.config["PUBLIC_BASE_URL"] = app.config["PUBLIC_BASE_URL"].rstrip("/")


def database_uri(url: str) -> str:
    """SQLAlchemy's URL for `url`, with PostgreSQL going through psycopg 3.

    `postgresql://` and Heroku-style `postgres://` would otherwise mean psycopg2,
    which Gatehouse does not install; a URL that names its driver is kept.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def load_or_create_secret_key(instance: Path) -> str:
    """Read `instance/secret_key`, creating it (mode 0600) on first start."""
    path = instance / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def init_extensions(app: Flask) -> None:
    """Bind the extensions to this app."""
    db.init_app(app)
    migrate.init_app(app, db)
    csrf.init_app(app)
    oauth.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "login.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"
    # Flask-Login's own "session protection" would clear sessions on a changed
    # user agent; server-side session rows already give us revocation.
    login_manager.session_protection = None
    app.session_interface = SessionInterface()
    import core.sessions  # noqa: F401  (registers the user loader)


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint."""
    from blueprints.api_keys import bp as api_keys_bp
    from blueprints.audit import bp as audit_bp
    from blueprints.groups import bp as groups_bp
    from blueprints.health import bp as health_bp
    from blueprints.login import bp as login_bp
    from blueprints.members import bp as members_bp
    from blueprints.okta import bp as okta_bp
    from blueprints.okta_oidc import bp as okta_oidc_bp
    from blueprints.okta_saml import bp as okta_saml_bp
    from blueprints.passwords import bp as passwords_bp
    from blueprints.scim import bp as scim_bp
    from blueprints.settings import bp as settings_bp
    from blueprints.universal_logout import bp as universal_logout_bp

    for blueprint in (
        login_bp,
        passwords_bp,
        members_bp,
        groups_bp,
        settings_bp,
        api_keys_bp,
        audit_bp,
        scim_bp,
        okta_bp,
        okta_oidc_bp,
        okta_saml_bp,
        health_bp,
        universal_logout_bp,
    ):
        app.register_blueprint(blueprint)
