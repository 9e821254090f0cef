"""An Authlib OpenID Connect client per organization.

Authlib's registry caches clients by name and keeps the first registration of a
name for good, so the name carries the configuration version: after the admin
changes the client ID, secret or metadata URL, a new name (and client) is used.
The name stays the same between the redirect and the callback because both read
the version stored with the sign-in in the session.

Authlib never fetches anything itself here: discovery is fetched and checked by
`core.okta.fetch_oidc_metadata` before the client is registered (so a document
without the endpoints a sign-in needs is refused, not a 500), and token, JWKS and
userinfo calls go through `core.outbound.GuardedOAuth2Session`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from authlib.integrations.flask_client import FlaskOAuth2App

from core.extensions import oauth
from core.models import SsoConfig
from core.okta import fetch_oidc_metadata
from core.outbound import GuardedOAuth2Session
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
                config.oidc_metadata_url or "",
            )
        ).encode()
    ).hexdigest()[:16]
    return f"okta-{config.organization_id}-v{config.version}-{digest}"


class GuardedOAuthApp(FlaskOAuth2App):
    """Authlib's Flask client whose every HTTP call uses the guarded fetcher."""

    client_cls = GuardedOAuth2Session


oauth.oauth2_client_cls = GuardedOAuthApp

# What a sign-in uses from the discovery document.
_METADATA_KEYS = ("issuer", "jwks_uri", "userinfo_endpoint")


def oidc_client_for(config: SsoConfig) -> Any:
    """The Authlib client for the organization's current OIDC configuration.

    The first call for a configuration (per process) fetches its discovery
    document. :raise OktaError: when it cannot be fetched or is unusable; nothing
    is registered then, so the next sign-in tries again.
    """
    name = client_name(config)
    client = oauth.create_client(name)
    if client is None:
        metadata = fetch_oidc_metadata(config.oidc_metadata_url or "")
        oauth.register(
            name,
            client_id=config.oidc_client_id,
            client_secret=decrypt_secret(config.oidc_client_secret_enc or ""),
            authorize_url=metadata["authorization_endpoint"],
            access_token_url=metadata["token_endpoint"],
            **{key: metadata[key] for key in _METADATA_KEYS if key in metadata},
            client_kwargs={
                "scope": "openid email profile",
                # Authlib leaves PKCE off unless asked.
                "code_challenge_method": "S256",
            },
        )
        client = oauth.create_client(name)
    return client
