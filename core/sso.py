"""Changing an organization's Okta SSO configuration (settings page and CLI).

Nothing is saved unless the metadata was fetched and checked first.
"""

from __future__ import annotations

from core import audit
from core import linking
from core import provisioning
from core.extensions import db
from core.models import Organization
from core.models import User
from core.okta import OktaError
from core.okta import fetch_oidc_metadata
from core.security import encrypt_secret

SSO_ROLES = ("member", "admin")


def sso_available(org: Organization | None) -> bool:
    """Whether members of `org` can sign in with Okta right now."""
    return bool(
        org is not None
        and org.has_paid_plan
        and org.sso_config is not None
        and org.sso_config.okta_enabled
    )


def configure_oidc(
    org: Organization,
    *,
    client_id: str,
    client_secret: str | None,
    metadata_url: str,
    default_role: str,
    actor: User | str,
) -> int:
    """Save Okta OIDC settings after checking the metadata; commit.

    `client_secret` None keeps the stored one (the form never shows it again).
    When Okta SSO is switched on for the first time, every active member not yet
    linked is emailed a link to confirm; returns how many were invited.
    :raise OktaError: if the metadata URL or document is unusable, or a value
        is missing; nothing is saved then.
    """
    if not org.has_paid_plan:
        raise OktaError("Okta single sign-on needs the Pro or Enterprise plan.")
    client_id = client_id.strip()
    if not client_id or len(client_id) > 300:
        raise OktaError("Enter the client ID from the app's General tab in Okta.")
    if default_role not in SSO_ROLES:
        raise OktaError("The default role must be member or admin.")
    config = provisioning.sso_config_for(org)
    if not client_secret and not (
        config.oidc_client_secret_enc and config.oidc_client_id == client_id
    ):
        raise OktaError("Enter the client secret from the app's General tab in Okta.")
    metadata = fetch_oidc_metadata(metadata_url)
    first_time = not config.okta_enabled
    config.provider = "okta"
    config.protocol = "oidc"
    config.default_role = default_role
    config.oidc_client_id = client_id
    if client_secret:
        config.oidc_client_secret_enc = encrypt_secret(client_secret.strip())
    config.metadata_url = metadata_url.strip()
    config.oidc_issuer = metadata["issuer"]
    config.version = (config.version or 0) + 1
    audit.record(
        "settings.okta_configured",
        org,
        actor=actor,
        protocol="oidc",
        client_id=client_id,
        issuer=metadata["issuer"],
        default_role=default_role,
        secret_changed=bool(client_secret),
    )
    db.session.commit()
    if first_time:
        return linking.invite_everyone(org, actor=actor)
    return 0


def disable_sso(org: Organization, *, actor: User | str) -> bool:
    """Turn Okta SSO off (back to None). Users, links and data stay. Commit.

    Returns False when it was already off.
    """
    config = org.sso_config
    if config is None or not config.okta_enabled:
        return False
    config.provider = "none"
    config.version = (config.version or 0) + 1
    audit.record("settings.okta_disconnected", org, actor=actor)
    db.session.commit()
    return True


__all__ = ["OktaError", "configure_oidc", "disable_sso", "sso_available"]
