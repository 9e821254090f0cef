"""Changing an organization's Okta SSO configuration (settings page and CLI).

Nothing is saved unless the metadata was fetched and checked first.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from core import audit
from core import linking
from core.extensions import db
from core.models import Organization
from core.models import SsoConfig
from core.models import User
from core.okta import OktaError
from core.okta import fetch_oidc_metadata
from core.provisioning import organizations
from core.saml_metadata import IdpMetadata
from core.saml_metadata import fetch_saml_metadata
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
) -> linking.Invitations | None:
    """Save Okta OIDC settings after checking the metadata; commit.

    `client_secret` None keeps the stored one (the form never shows it again).
    When this changes which identities count (Okta switched on, or another
    protocol or Okta), every active member not linked at the new one is emailed
    a link to confirm; returns what was sent (None when nobody needed it).
    :raise OktaError: if the metadata URL or document is unusable, or a value
        is missing; nothing is saved then.
    """
    _check_can_configure(org, default_role)
    client_id = client_id.strip()
    if not client_id or len(client_id) > 300:
        raise OktaError("Enter the client ID from the app's General tab in Okta.")
    config = organizations.sso_config_for(org)
    if not client_secret and not (
        config.oidc_client_secret_enc and config.oidc_client_id == client_id
    ):
        raise OktaError("Enter the client secret from the app's General tab in Okta.")
    metadata = fetch_oidc_metadata(metadata_url)
    before = identity_space(config)
    config.protocol = "oidc"
    config.oidc_client_id = client_id
    if client_secret:
        config.oidc_client_secret_enc = encrypt_secret(client_secret.strip())
    config.metadata_url = metadata_url.strip()
    config.oidc_issuer = metadata["issuer"]
    return _switch_on(
        org,
        default_role,
        before,
        actor,
        protocol="oidc",
        client_id=client_id,
        issuer=metadata["issuer"],
        secret_changed=bool(client_secret),
    )


def configure_saml(
    org: Organization, *, metadata_url: str, default_role: str, actor: User | str
) -> linking.Invitations | None:
    """Save Okta SAML settings after fetching and checking the IdP metadata; commit.

    Returns what was emailed to members who need to link, like `configure_oidc`.
    :raise OktaError: if the metadata is unusable; nothing is saved then.
    """
    _check_can_configure(org, default_role)
    metadata = fetch_saml_metadata(metadata_url)
    _check_entity_id_is_free(org, metadata.entity_id)
    config = organizations.sso_config_for(org)
    before = identity_space(config)
    config.protocol = "saml"
    config.metadata_url = metadata_url.strip()
    _store_saml_metadata(config, metadata)
    return _switch_on(
        org,
        default_role,
        before,
        actor,
        protocol="saml",
        entity_id=metadata.entity_id,
        sso_url=metadata.sso_url,
        certificates=len(metadata.certificates),
    )


def refresh_saml_metadata(org: Organization, *, actor: User | str) -> bool:
    """Fetch the saved SAML metadata URL again and store what it says; commit.

    Returns whether the signing certificates changed (Okta rotated its key).
    :raise OktaError: if SAML is not set up or the metadata is unusable; the
        saved settings stay as they were then.
    """
    config = org.sso_config
    if config is None or not config.okta_enabled or config.protocol != "saml":
        raise OktaError("Okta sign-in with SAML is not set up for this organization.")
    if not config.metadata_url:
        raise OktaError("No metadata URL is saved; enter it on this page.")
    metadata = fetch_saml_metadata(config.metadata_url)
    _check_entity_id_is_free(org, metadata.entity_id)
    changed = list(config.saml_certificates or []) != metadata.certificates
    moved = (config.saml_entity_id, config.saml_sso_url) != (
        metadata.entity_id,
        metadata.sso_url,
    )
    _store_saml_metadata(config, metadata)
    if changed or moved:
        # Sign-ins in progress were started with the old values: start again.
        config.version = (config.version or 0) + 1
    audit.record(
        "settings.okta_metadata_refreshed",
        org,
        actor=actor,
        entity_id=metadata.entity_id,
        sso_url=metadata.sso_url,
        certificates=len(metadata.certificates),
        certificates_changed=changed,
    )
    _commit_saml_settings()
    return changed


def set_idp_initiated(org: Organization, enabled: bool, *, actor: User | str) -> None:
    """Allow or refuse sign-in started from the Okta dashboard (SAML); commit."""
    config = organizations.sso_config_for(org)
    if config.idp_initiated_enabled == enabled:
        return
    config.idp_initiated_enabled = enabled
    audit.record("settings.okta_dashboard_sign_in", org, actor=actor, enabled=enabled)
    db.session.commit()


def release_saml_app(org: Organization, *, actor: User | str) -> str | None:
    """Forget the organization's Okta SAML app so another organization may use it.

    Only while the organization does not sign in with SAML. Returns the entity
    ID released, or None when there was none. Commits.
    :raise OktaError: if SAML sign-in is on for the organization.
    """
    config = org.sso_config
    if config is None or not config.saml_entity_id:
        return None
    if config.okta_enabled and config.protocol == "saml":
        raise OktaError(
            "Okta sign-in with SAML is on for this organization: switch it to OIDC "
            "or None first."
        )
    entity_id = config.saml_entity_id
    config.saml_entity_id = None
    config.saml_sso_url = None
    config.saml_certificates = []
    audit.record(
        "settings.okta_saml_app_released", org, actor=actor, entity_id=entity_id
    )
    db.session.commit()
    return entity_id


def _check_can_configure(org: Organization, default_role: str) -> None:
    if not org.has_paid_plan:
        raise OktaError("Okta single sign-on needs the Pro or Enterprise plan.")
    if default_role not in SSO_ROLES:
        raise OktaError("The default role must be member or admin.")


APP_TAKEN = (
    "This Okta app is already connected to another Gatehouse organization. "
    "Create a separate app in Okta for this organization."
)


def _check_entity_id_is_free(org: Organization, entity_id: str) -> None:
    """One Okta SAML app per organization: dashboard sign-ins are routed by it.

    An app stays reserved to its organization after a switch to OIDC or None,
    so nobody else can pick up its dashboard sign-ins meanwhile (a unique index
    settles two organizations saving at once).
    """
    taken = db.session.execute(
        db.select(SsoConfig.id).where(
            SsoConfig.organization_id != org.id,
            SsoConfig.saml_entity_id == entity_id,
        )
    ).first()
    if taken:
        raise OktaError(APP_TAKEN)


def _commit_saml_settings() -> None:
    """Commit; another organization saving the same Okta app first is an OktaError."""
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise OktaError(APP_TAKEN) from exc


def _store_saml_metadata(config: SsoConfig, metadata: IdpMetadata) -> None:
    config.saml_entity_id = metadata.entity_id
    config.saml_sso_url = metadata.sso_url
    config.saml_certificates = list(metadata.certificates)


def identity_space(config: SsoConfig) -> tuple[bool, str, str | None]:
    """What decides which Okta identities count: on/off, protocol, issuer."""
    return (config.okta_enabled, config.protocol, linking.current_issuer(config))


def _switch_on(
    org: Organization,
    default_role: str,
    before: tuple[bool, str, str | None],
    actor: User | str,
    **details: object,
) -> linking.Invitations | None:
    """Okta becomes the provider; audit, commit.

    When that changes which identities count (switched on, another protocol
    or another Okta), every active member without an identity at the new one
    is emailed the link; returns what was sent, or None when nobody needed it.
    """
    config = organizations.sso_config_for(org)
    config.provider = "okta"
    config.default_role = default_role
    config.version = (config.version or 0) + 1
    audit.record(
        "settings.okta_configured",
        org,
        actor=actor,
        default_role=default_role,
        **details,
    )
    _commit_saml_settings()
    if identity_space(config) != before:
        return linking.invite_everyone(org, actor=actor)
    return None


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


__all__ = [
    "OktaError",
    "configure_oidc",
    "configure_saml",
    "disable_sso",
    "refresh_saml_metadata",
    "release_saml_app",
    "set_idp_initiated",
    "sso_available",
]
