"""Changing an organization's Universal Logout settings (settings page and CLI).

Turning it on needs a paid plan and saved Okta settings; a SAML organization
also needs the Okta base URL (`https://{org}.okta.com`, the tokens' `iss`, whose
`/oauth2/v1/keys` signs them) and the Okta app's instance id (their `sub`).
Every problem is reported at once, by field, and nothing is saved then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from core import audit
from core import jwks
from core.authority import Actor
from core.extensions import db
from core.models import Organization
from core.models import SsoConfig
from core.models import UniversalLogoutConfig
from core.models import User
from core.models.values import unsafe_characters
from core.outbound import OutboundError
from core.outbound import check_url
from core.sso_authority import universal_logout_problem
from core.universal_logout_token import accepts

APP_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


class UniversalLogoutInvalid(Exception):
    """Settings that cannot be saved; `errors` maps each field to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = errors


class NotAllowed(UniversalLogoutInvalid):
    """The actor may not make this change (`errors["enabled"]` says why)."""


@dataclass(frozen=True)
class Change:
    """What the caller asks to change; None leaves a setting as it is."""

    enabled: bool | None = None
    revoke_personal_keys: bool | None = None
    okta_url: str | None = None
    app_id: str | None = None


def config_of(org: Organization) -> UniversalLogoutConfig | None:
    """The organization's Universal Logout settings, if it ever had any."""
    return db.session.execute(
        db.select(UniversalLogoutConfig).filter_by(organization_id=org.id)
    ).scalar_one_or_none()


def uses_saml(org: Organization) -> bool:
    """Whether the organization signs in with SAML (so it enters its app id)."""
    return org.sso_config is not None and org.sso_config.protocol == "saml"


def update(org: Organization, change: Change, actor: User | Actor) -> list[str]:
    """Apply `change` after checking it all; audit; commit. Returns what changed.

    :raise UniversalLogoutInvalid: every problem, by field; nothing is saved.
    """
    actor = Actor.of(actor)
    config = config_of(org) or UniversalLogoutConfig(
        organization_id=org.id, enabled=False, revoke_personal_keys=False
    )
    new = _checked(org, config, change, actor)
    changed = [name for name, value in new.items() if getattr(config, name) != value]
    if not changed:
        return []
    for name in changed:
        setattr(config, name, new[name])
    db.session.add(config)
    audit.record(
        "universal_logout.settings_changed",
        org,
        actor=actor,
        **{name: new[name] for name in changed},
    )
    db.session.commit()
    jwks.forget_keys()
    return changed


def _checked(
    org: Organization, config: UniversalLogoutConfig, change: Change, actor: Actor
) -> dict[str, object]:
    """The new value of each column `change` touches.

    :raise UniversalLogoutInvalid: every problem, by field.
    """
    errors: dict[str, str] = {}
    new: dict[str, object] = {}
    addressing = {"saml_okta_url": change.okta_url, "saml_app_id": change.app_id}
    touched = {name: value for name, value in addressing.items() if value is not None}
    for name, value in touched.items():
        problem = _address_problem(name, value)
        if problem:
            errors[name] = problem
        else:
            new[name] = _normal(name, value)
    if change.revoke_personal_keys is not None:
        new["revoke_personal_keys"] = change.revoke_personal_keys
    if change.enabled is not None:
        new["enabled"] = change.enabled
    changes_addressing = any(
        getattr(config, n) != v for n, v in new.items() if n in addressing
    )
    problem = universal_logout_problem(actor, addressing=changes_addressing)
    if problem:
        raise NotAllowed({"enabled": problem})
    if new.get("enabled") and not errors:
        errors.update(_turn_on_problems(org, config, new))
    if new.get("enabled", config.enabled) and not errors:
        errors.update(_claimed_problem(org, config, new))
    if errors:
        raise UniversalLogoutInvalid(errors)
    return new


def _address_problem(name: str, value: str) -> str | None:
    value = value.strip()
    if name == "saml_app_id":
        if not APP_ID.fullmatch(value):
            return (
                "Enter the app's instance id from Okta (letters, digits, - and _, "
                "such as 0oa1b2c3d4)."
            )
        return None
    if unsafe_characters(value):
        return "Enter only your Okta address, such as https://acme.okta.com."
    try:
        url = check_url(value, "The Okta URL")
    except OutboundError as exc:
        return str(exc)
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query or parts.fragment or len(url) > 200:
        return "Enter only your Okta address, such as https://acme.okta.com."
    return None


def _normal(name: str, value: str) -> str:
    """The stored form: an app id as typed, an Okta URL lower-cased without "/"."""
    value = value.strip()
    if name == "saml_app_id":
        return value
    parts = urlsplit(value)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _turn_on_problems(
    org: Organization, config: UniversalLogoutConfig, new: dict[str, object]
) -> dict[str, str]:
    """Why Universal Logout cannot be turned on, by field."""
    if not org.has_paid_plan:
        return {"enabled": "Universal Logout needs the Pro or Enterprise plan."}
    sso = org.sso_config
    if sso is None or not sso.is_saved(sso.protocol):
        return {"enabled": "Save your Okta settings first."}
    if sso.protocol == "oidc":
        return {}
    errors = {}
    if not new.get("saml_okta_url", config.saml_okta_url):
        errors["saml_okta_url"] = (
            "Enter your Okta address, such as https://acme.okta.com."
        )
    if not new.get("saml_app_id", config.saml_app_id):
        errors["saml_app_id"] = "Enter the Okta app's instance id."
    return errors


CLAIMED = (
    "Another organization here already accepts Universal Logout from this Okta "
    "app (the same Okta address and client ID or app id). Check that these are "
    "your Okta's, or ask your operator."
)


def _claimed_problem(
    org: Organization, config: UniversalLogoutConfig, new: dict[str, object]
) -> dict[str, str]:
    """Refuse an Okta issuer and app already claimed by another organization
    with Universal Logout on (its tokens would name both)."""
    pair = _address(org, config, new)
    if pair is None or not claimed_elsewhere(org, *pair):
        return {}
    return {"enabled" if not uses_saml(org) else "saml_app_id": CLAIMED}


def claimed_elsewhere(org: Organization, issuer: str, subject: str) -> bool:
    """Whether another organization accepts Universal Logout addressed by this
    Okta issuer and client ID (or app id) with a proven configuration
    (`accepts`): an unproven claim blocks nobody, and routing ignores it."""
    ulo = UniversalLogoutConfig
    others = (
        db.select(SsoConfig, ulo.enabled)
        .join(ulo, SsoConfig.organization_id == ulo.organization_id)
        .where(ulo.enabled.is_(True), ulo.organization_id != org.id)
    )
    oidc = others.where(
        SsoConfig.protocol == "oidc",
        SsoConfig.oidc_issuer == issuer,
        SsoConfig.oidc_client_id == subject,
    )
    saml = others.where(
        SsoConfig.protocol == "saml",
        ulo.saml_okta_url == issuer,
        ulo.saml_app_id == subject,
    )
    rows = [*db.session.execute(oidc).all(), *db.session.execute(saml).all()]
    return any(accepts(sso, bool(on), issuer) for sso, on in rows)


def oidc_claim_problem(org: Organization, issuer: str, client_id: str) -> str | None:
    """Why OIDC settings with this issuer and client ID cannot be saved while
    `org` accepts Universal Logout (core.sso asks before saving), or None."""
    config = config_of(org)
    if config is None or not config.enabled:
        return None
    return CLAIMED if claimed_elsewhere(org, issuer, client_id) else None


def _address(
    org: Organization, config: UniversalLogoutConfig, new: dict[str, object]
) -> tuple[str, str] | None:
    """The (iss, sub) pair Okta's tokens for `org` will carry, if known."""
    sso = org.sso_config
    if sso is None:
        return None
    if sso.protocol == "oidc":
        pair = (sso.oidc_issuer, sso.oidc_client_id)
    else:
        pair = (
            new.get("saml_okta_url", config.saml_okta_url),
            new.get("saml_app_id", config.saml_app_id),
        )
    if not all(isinstance(value, str) and value for value in pair):
        return None
    return str(pair[0]), str(pair[1])
