"""SAML metadata: an Okta app's IdP metadata, and where Gatehouse's own SP lives.

Reading the metadata an admin points Gatehouse at (fetch, parse, certificate
facts) is shared by the settings page, the CLI and `core.sso`; the two paths
Gatehouse publishes for Okta (ACS and SP metadata) are shared by the settings
page and the SAML sign-in (`blueprints/okta_saml`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from cryptography import x509
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from core.okta import OktaError
from core.okta import check_metadata_url
from core.okta import fetch

ACS_PATH = "/api/v1/auth/login/okta/callback"
SP_METADATA_PATH = "/saml/metadata"
CERT_WARNING_DAYS = 30

NS = {"md": Saml.NS_MD, "ds": Saml.NS_DS, "saml": Saml.NS_SAML, "samlp": Saml.NS_SAMLP}


@dataclass(frozen=True)
class IdpMetadata:
    """What Gatehouse keeps from an Okta app's SAML metadata."""

    entity_id: str
    sso_url: str
    certificates: list[str]


@dataclass(frozen=True)
class CertificateFacts:
    """A signing certificate as the settings page shows it."""

    fingerprint: str
    subject: str
    not_after: datetime
    days_left: int

    @property
    def expired(self) -> bool:
        """Whether the certificate's validity has ended."""
        return self.days_left < 0

    @property
    def expires_soon(self) -> bool:
        """Whether it ends within CERT_WARNING_DAYS (or has ended)."""
        return self.days_left < CERT_WARNING_DAYS


def certificate_facts(
    certificate: str, now: datetime | None = None
) -> CertificateFacts:
    """SHA-256 fingerprint, subject and expiry of a base64 DER certificate."""
    der = base64.b64decode(certificate)
    cert = x509.load_der_x509_certificate(der)
    digest = hashlib.sha256(der).hexdigest().upper()
    not_after = cert.not_valid_after_utc
    left = not_after - (now or datetime.now(UTC))
    return CertificateFacts(
        fingerprint=":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
        subject=cert.subject.rfc4514_string(),
        not_after=not_after,
        days_left=left.days,
    )


def parse_idp_metadata(document: bytes) -> IdpMetadata:
    """Entity ID, HTTP-Redirect sign-on URL and every signing certificate.

    :raise OktaError: saying what is missing, in words for the admin.
    """
    entity, descriptor = _identity_provider(_metadata_root(document))
    entity_id = _entity_id(entity)
    _check_descriptor(descriptor)
    sso_url = _sso_url(descriptor)
    certificates = _signing_certificates(descriptor)
    return IdpMetadata(entity_id=entity_id, sso_url=sso_url, certificates=certificates)


def _metadata_root(document: bytes) -> etree._Element:
    """The parsed document (python3-saml's parser: no DTD, no entities)."""
    try:
        return OneLogin_Saml2_XML.to_etree(document)
    except Exception as exc:  # lxml, DTD and entity refusals all land here
        raise OktaError(
            "The metadata URL did not return SAML metadata. Copy the Identity "
            "Provider metadata URL from the app's Sign On tab in Okta."
        ) from exc


def _identity_provider(root: etree._Element) -> tuple[etree._Element, etree._Element]:
    """The one EntityDescriptor with an IDPSSODescriptor, and that descriptor."""
    entities = [root] if root.tag == f"{{{Saml.NS_MD}}}EntityDescriptor" else []
    entities += root.findall(".//md:EntityDescriptor", NS)
    idps = [
        (entity, descriptor)
        for entity in entities
        for descriptor in entity.findall("md:IDPSSODescriptor", NS)
    ]
    if not idps:
        raise OktaError(
            "The metadata does not describe a SAML identity provider "
            "(no IDPSSODescriptor). Copy the Identity Provider metadata URL from "
            "the app's Sign On tab in Okta."
        )
    if len(idps) > 1:
        raise OktaError(
            "The metadata describes several identity providers; use the metadata "
            "URL of the Gatehouse app itself."
        )
    return idps[0]


def _entity_id(entity: etree._Element) -> str:
    """The identity provider's entity ID (it becomes OktaIdentity.issuer)."""
    entity_id = (entity.get("entityID") or "").strip()
    if not entity_id:
        raise OktaError("The metadata has no entity ID.")
    if len(entity_id) > 500:  # it becomes OktaIdentity.issuer, String(500)
        raise OktaError("The metadata's entity ID is too long.")
    return entity_id


def _check_descriptor(descriptor: etree._Element) -> None:
    """SAML 2.0, and no demand for signed requests (Gatehouse sends them unsigned)."""
    if Saml.NS_SAMLP not in (descriptor.get("protocolSupportEnumeration") or ""):
        raise OktaError("The metadata's identity provider does not support SAML 2.0.")
    if descriptor.get("WantAuthnRequestsSigned") in ("true", "1"):
        raise OktaError(
            "The Okta app asks for signed sign-in requests. Gatehouse sends them "
            "unsigned: in Okta, turn off 'Signed Requests' in the app's SAML "
            "settings, then continue."
        )


def _sso_url(descriptor: etree._Element) -> str:
    """The sign-on URL of the HTTP-Redirect binding, which must be https."""
    sso_urls = [
        (node.get("Location") or "").strip()
        for node in descriptor.findall("md:SingleSignOnService", NS)
        if node.get("Binding") == Saml.BINDING_HTTP_REDIRECT
    ]
    if not sso_urls or not sso_urls[0]:
        raise OktaError(
            "The metadata has no sign-on URL for the HTTP-Redirect binding, which "
            "Gatehouse uses to send people to Okta."
        )
    try:
        return check_metadata_url(sso_urls[0])
    except OktaError as exc:
        raise OktaError("The metadata's sign-on URL is not an https URL.") from exc


def _signing_certificates(descriptor: etree._Element) -> list[str]:
    """Every signing certificate (base64 DER, once each); at least one."""
    certificates: list[str] = []
    for key in descriptor.findall("md:KeyDescriptor", NS):
        if key.get("use") not in (None, "", "signing"):
            continue
        for node in key.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS):
            text = "".join((node.text or "").split())
            try:
                certificate_facts(text)
            except (ValueError, binascii.Error) as exc:
                raise OktaError(
                    "A signing certificate in the metadata cannot be read."
                ) from exc
            if text not in certificates:
                certificates.append(text)
    if not certificates:
        raise OktaError(
            "The metadata has no signing certificate, so Gatehouse could not check "
            "that sign-ins really come from your Okta. Use the app's own metadata "
            "URL from its Sign On tab."
        )
    return certificates


def fetch_saml_metadata(url: str) -> IdpMetadata:
    """Fetch and check an Okta app's SAML metadata.

    :raise OktaError: saying what is wrong.
    """
    url = check_metadata_url(url)
    return parse_idp_metadata(
        fetch(url, "application/samlmetadata+xml, application/xml, text/xml")
    )
