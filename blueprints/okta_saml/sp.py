"""Gatehouse as a SAML service provider: python3-saml settings and SP metadata.

python3-saml runs strict, with the settings decided here: an organization's
Okta (entity ID, sign-on URL, signing certificates) on the IdP side, and on
ours the entity ID and ACS URL built from the public address, never a request.
"""

from __future__ import annotations

from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from core.models import SsoConfig
from core.saml_metadata import ACS_PATH
from core.urls import public_url

NAMEID_EMAIL = Saml.NAMEID_EMAIL_ADDRESS


def sp_entity_id() -> str:
    """Gatehouse's SP entity ID, the Audience URI pasted into Okta."""
    return public_url()


def acs_url() -> str:
    """The Single sign on URL pasted into Okta, where Okta posts its responses."""
    return public_url(ACS_PATH)


def _settings_dict(config: SsoConfig | None) -> dict[str, object]:
    idp: dict[str, object] = {}
    if config is not None:
        certificates = list(config.saml_certificates or [])
        idp = {
            "entityId": config.saml_entity_id,
            "singleSignOnService": {
                "url": config.saml_sso_url,
                "binding": Saml.BINDING_HTTP_REDIRECT,
            },
            "x509cert": certificates[0] if certificates else "",
            "x509certMulti": {"signing": certificates},
        }
    return {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": sp_entity_id(),
            "assertionConsumerService": {
                "url": acs_url(),
                "binding": Saml.BINDING_HTTP_POST,
            },
            "NameIDFormat": NAMEID_EMAIL,
            "attributeConsumingService": {
                "serviceName": "Gatehouse",
                "requestedAttributes": [
                    {"name": name, "isRequired": name == "email"}
                    for name in ("firstName", "lastName", "email")
                ],
            },
        },
        "idp": idp,
        "security": {
            "authnRequestsSigned": False,
            "wantAssertionsSigned": True,
            "wantMessagesSigned": False,
            "wantNameId": True,
            "wantAttributeStatement": False,
            "wantAssertionsEncrypted": False,
            "rejectDeprecatedAlgorithm": True,
            "requestedAuthnContext": False,
            "signatureAlgorithm": Saml.RSA_SHA256,
            "digestAlgorithm": Saml.SHA256,
        },
    }


def settings_for(config: SsoConfig) -> OneLogin_Saml2_Settings:
    """python3-saml settings for one organization's Okta, strict."""
    return OneLogin_Saml2_Settings(_settings_dict(config))


def sp_metadata() -> str:
    """Gatehouse's SP metadata XML (the same for every organization)."""
    settings = OneLogin_Saml2_Settings(_settings_dict(None), sp_validation_only=True)
    metadata = settings.get_sp_metadata()
    errors = settings.validate_metadata(metadata)
    if errors:  # our own settings are wrong: a bug, not a user error
        raise RuntimeError(f"SP metadata does not validate: {errors}")
    # python3-saml stamps a validUntil two days ahead; a file an admin downloads
    # and uploads somewhere must not go stale, and nothing in it expires.
    root = etree.fromstring(metadata)
    root.attrib.pop("validUntil", None)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()
