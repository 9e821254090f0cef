"""An Authlib OpenID Connect client per organization.

Authlib's registry caches clients by name and keeps the first registration of a
name for good, so the name carries the configuration version: after the admin
changes the client ID, secret or metadata URL, a new name (and client) is used.
The name stays the same between the redirect and the callback because both read
the version stored with the sign-in in the session.
"""

from __future__ import annotations

import hashlib
from typing import Any

from core.extensions import oauth
from core.models import SsoConfig
from core.security import decrypt_secret


def client_name(config: SsoConfig) -> str:
    """The registry name of the client for exactly this configuration.

    The version alone is not enough: a restored database (or a second app in the
    same process, as in tests) can repeat an organization id and version with
    other settings, so a digest of the settings is part of the name.
    """
    digest = hashlib.sha256(
        "\n".join(
            (
                config.oidc_client_id or "",
                config.oidc_client_secret_enc or "",
                config.metadata_url or "",
            )
        ).encode()
    ).hexdigest()[:16]
    return f"okta-{config.organization_id}-v{config.version}-{digest}"


def oidc_client_for(config: SsoConfig) -> Any:
    """The Authlib client for the organization's current OIDC configuration."""
    name = client_name(config)
    client = oauth.create_client(name)
    if client is None:
        oauth.register(
            name,
            client_id=config.oidc_client_id,
            client_secret=decrypt_secret(config.oidc_client_secret_enc or ""),
            server_metadata_url=config.metadata_url,
            client_kwargs={
                "scope": "openid email profile",
                # Authlib leaves PKCE off unless asked.
                "code_challenge_method": "S256",
                "timeout": 10,
            },
        )
        client = oauth.create_client(name)
    return client
