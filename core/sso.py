"""Changing an organization's Okta SSO settings (settings page and CLI).

Saving stores one protocol's settings and changes nothing for members: Okta
sign-in reaches them only when it is turned on (`core.sso_rollout.turn_on`).
Nothing is saved unless every value was checked first, the metadata fetched
included; every problem is reported at once, by field (`SettingsInvalid`).
OIDC and SAML keep their own settings, so saving one never wipes the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

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
from core.security import decrypt_secret
from core.security import encrypt_secret
from core.universal_logout_settings import oidc_claim_problem

SSO_ROLES = ("member", "admin")
T = TypeVar("T")
MAX_CLIENT_ID = 300
MAX_CLIENT_SECRET = 500
MAX_METADATA_URL = 1000


class SettingsInvalid(OktaError):
    """Settings that cannot be saved; `errors` maps each field to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = errors


class MoveNotConfirmed(OktaError):
    """The save would move live Okta sign-in to another Okta (issuer or app).

    Every member's link stops counting then; the page shows who is affected
    and asks again (`confirmed=True`). Nothing was saved.
    """

    def __init__(self, protocol: str, old_issuer: str, new_issuer: str) -> None:
        super().__init__(
            f"These settings point at another Okta ({new_issuer}); members' links "
            "stop counting. Confirm to save."
        )
        self.protocol = protocol
        self.old_issuer = old_issuer
        self.new_issuer = new_issuer


@dataclass(frozen=True)
class Saved:
    """What a save did: `live` when members sign in with these settings now."""

    protocol: str
    live: bool
    changed: bool
    invitations: linking.Invitations | None = None


def sso_available(org: Organization | None) -> bool:
    """Whether members of `org` can sign in with Okta right now (turned on)."""
    return bool(
        org is not None
        and org.has_paid_plan
        and org.sso_config is not None
        and org.sso_config.okta_enabled
    )


def is_live(config: SsoConfig | None, protocol: str) -> bool:
    """Whether members sign in with `protocol` right now."""
    return bool(config and config.okta_enabled and config.protocol == protocol)


def configure_oidc(
    org: Organization,
    *,
    client_id: str,
    client_secret: str | None,
    metadata_url: str,
    default_role: str,
    actor: User | str,
    confirmed: bool = False,
    send_links: bool = False,
) -> Saved:
    """Save Okta OIDC settings after checking them all; commit.

    `client_secret` None keeps the stored one (the form never shows it again).
    Members are affected only while Okta sign-in is on with OIDC; a save that
    then moves it to another issuer needs `confirmed` (and emails the members
    not linked at the new one when `send_links`).
    :raise SettingsInvalid: every problem, by field; nothing is saved then.
    :raise MoveNotConfirmed: see above; nothing is saved then.
    """
    config = organizations.sso_config_for(org)
    client_id = (client_id or "").strip()
    client_secret = (client_secret or "").strip() or None
    errors = _common_problems(org, default_role)
    errors.update(_client_problems(config, client_id, client_secret))
    try:
        issuer = _checked_url(metadata_url, fetch_oidc_metadata)["issuer"]
    except OktaError as exc:
        errors["metadata_url"] = str(exc)
    else:
        claimed = oidc_claim_problem(org, issuer, client_id)
        errors.update({"client_id": claimed} if claimed else {})
    if errors:
        raise SettingsInvalid(errors)
    _check_move(config, "oidc", config.oidc_issuer, issuer, confirmed)
    new = {
        "oidc_client_id": client_id,
        "oidc_metadata_url": metadata_url.strip(),
        "oidc_issuer": issuer,
        **_secret_column(config, client_secret),
    }
    details = {"client_id": client_id, "issuer": issuer}
    details["secret_changed"] = "oidc_client_secret_enc" in new
    return _save(org, "oidc", new, default_role, actor, send_links, details)


def _secret_column(config: SsoConfig, client_secret: str | None) -> dict[str, str]:
    """The encrypted secret to store, unless it is the one stored already (an
    unchanged secret is no change: the last test still proves the settings)."""
    if not client_secret:
        return {}
    try:
        if decrypt_secret(config.oidc_client_secret_enc or "") == client_secret:
            return {}
    except ValueError:
        pass  # none stored, or stored under another SECRET_KEY
    return {"oidc_client_secret_enc": encrypt_secret(client_secret)}


def configure_saml(
    org: Organization,
    *,
    metadata_url: str,
    default_role: str,
    actor: User | str,
    confirmed: bool = False,
    send_links: bool = False,
) -> Saved:
    """Save Okta SAML settings after fetching and checking the IdP metadata; commit.

    Like `configure_oidc`: members are affected only while sign-in is on with
    SAML, and moving it to another Okta app then needs `confirmed`.
    :raise SettingsInvalid: every problem, by field; nothing is saved then.
    :raise MoveNotConfirmed: nothing is saved then.
    """
    config = organizations.sso_config_for(org)
    errors = _common_problems(org, default_role)
    try:
        metadata = _checked_url(metadata_url, fetch_saml_metadata)
        _check_entity_id_is_free(org, metadata.entity_id)
    except OktaError as exc:
        errors["saml_metadata_url"] = str(exc)
    if errors:
        raise SettingsInvalid(errors)
    _check_move(config, "saml", config.saml_entity_id, metadata.entity_id, confirmed)
    new = {"saml_metadata_url": metadata_url.strip(), **_saml_columns(metadata)}
    details = {
        "entity_id": metadata.entity_id,
        "sso_url": metadata.sso_url,
        "certificates": len(metadata.certificates),
    }
    return _save(org, "saml", new, default_role, actor, send_links, details)


def _checked_url(url: str, fetch: Callable[[str], T]) -> T:
    """`fetch(url)` once the URL fits its column. :raise OktaError:"""
    if len((url or "").strip()) > MAX_METADATA_URL:
        raise OktaError(
            f"The metadata URL is too long (at most {MAX_METADATA_URL} characters)."
        )
    return fetch(url or "")


def _common_problems(org: Organization, default_role: str) -> dict[str, str]:
    if not org.has_paid_plan:
        raise OktaError("Okta single sign-on needs the Pro or Enterprise plan.")
    if default_role not in SSO_ROLES:
        return {"default_role": "The default role must be member or admin."}
    return {}


def _client_problems(
    config: SsoConfig, client_id: str, client_secret: str | None
) -> dict[str, str]:
    """What is wrong with the client ID and secret, by field."""
    errors = {}
    if not client_id:
        errors["client_id"] = "Enter the client ID from the app's General tab in Okta."
    elif len(client_id) > MAX_CLIENT_ID:
        errors["client_id"] = (
            f"The client ID is too long (at most {MAX_CLIENT_ID} characters)."
        )
    if client_secret and len(client_secret) > MAX_CLIENT_SECRET:
        errors["client_secret"] = (
            f"The client secret is too long (at most {MAX_CLIENT_SECRET} characters)."
        )
    elif not client_secret and not (
        config.oidc_client_secret_enc and config.oidc_client_id == client_id
    ):
        errors["client_secret"] = (
            "Enter the client secret from the app's General tab in Okta."
            if not config.oidc_client_secret_enc
            else "A new client ID needs its client secret: enter it too."
        )
    return errors


def _check_move(
    config: SsoConfig,
    protocol: str,
    old_issuer: str | None,
    new_issuer: str,
    confirmed: bool,
) -> None:
    """Refuse to move live sign-in to another Okta unless confirmed."""
    if is_live(config, protocol) and old_issuer != new_issuer and not confirmed:
        raise MoveNotConfirmed(protocol, old_issuer or "", new_issuer)


def _save(
    org: Organization,
    protocol: str,
    new: dict[str, object],
    default_role: str,
    actor: User | str,
    send_links: bool,
    details: dict[str, object],
) -> Saved:
    """Store `new` columns of `protocol`'s settings; audit; commit.

    Only a real change raises the protocol's settings version (which makes its
    last test stale); the default role is not part of what a test proves.
    """
    config = organizations.sso_config_for(org)
    before = linking.current_issuer(config) if is_live(config, protocol) else None
    changed = any(getattr(config, key) != value for key, value in new.items())
    for key, value in new.items():
        setattr(config, key, value)
    if changed:
        config.bump_settings(protocol)
    if not config.okta_enabled:
        config.protocol = protocol  # what the page shows next; nobody signs in
    config.default_role = default_role
    live = is_live(config, protocol)
    audit.record(
        "settings.okta_configured",
        org,
        actor=actor,
        protocol=protocol,
        default_role=default_role,
        live=live,
        **details,
    )
    _commit_saml_settings()
    invitations = None
    if live and send_links and linking.current_issuer(config) != before:
        invitations = linking.invite_everyone(org, actor=actor)
    return Saved(protocol, live, changed, invitations)


def refresh_saml_metadata(org: Organization, *, actor: User | str) -> bool:
    """Fetch the saved SAML metadata URL again and store what it says; commit.

    Returns whether the signing certificates changed (Okta rotated its key).
    :raise OktaError: if SAML is not saved or the metadata is unusable; the
        saved settings stay as they were then.
    """
    config = org.sso_config
    if config is None or not config.is_saved("saml"):
        raise OktaError("Okta sign-in with SAML is not set up for this organization.")
    if not config.saml_metadata_url:
        raise OktaError("No metadata URL is saved; enter it on this page.")
    metadata = fetch_saml_metadata(config.saml_metadata_url)
    _check_entity_id_is_free(org, metadata.entity_id)
    changed = list(config.saml_certificates or []) != metadata.certificates
    moved = (config.saml_entity_id, config.saml_sso_url) != (
        metadata.entity_id,
        metadata.sso_url,
    )
    for key, value in _saml_columns(metadata).items():
        setattr(config, key, value)
    if changed or moved:
        # Sign-ins in progress were started with the old values: start again;
        # and the last test sign-in proved other settings.
        config.bump_settings("saml")
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
    if is_live(config, "saml"):
        raise OktaError(
            "Okta sign-in with SAML is on for this organization: switch it to OIDC "
            "or None first."
        )
    entity_id = config.saml_entity_id
    config.saml_entity_id = None
    config.saml_sso_url = None
    config.saml_certificates = []
    config.bump_settings("saml")
    audit.record(
        "settings.okta_saml_app_released", org, actor=actor, entity_id=entity_id
    )
    db.session.commit()
    return entity_id


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
    """Commit; another organization saving the same Okta app first is refused."""
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise SettingsInvalid({"saml_metadata_url": APP_TAKEN}) from exc


def _saml_columns(metadata: IdpMetadata) -> dict[str, object]:
    return {
        "saml_entity_id": metadata.entity_id,
        "saml_sso_url": metadata.sso_url,
        "saml_certificates": list(metadata.certificates),
    }
