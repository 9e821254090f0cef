"""SAML 2.0 with an organization's Okta: IdP metadata, AuthnRequests, responses.

python3-saml does the XML signature and protocol checks in strict mode; this
module decides the settings it runs with and adds what strict mode leaves out
(for this product): an audience and a destination are required, the recipient
and destination must be our ACS URL exactly, SP-initiated responses must name
the request they answer, documents with a DTD, comments or processing
instructions are refused before anything else reads them, and each assertion
is accepted once (`SamlAssertionSeen`, shared by every worker through the
database).

Every failure is a `SamlError` whose `kind` picks the message a person sees and
whose `reason` is the technical detail for the audit log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from urllib.parse import urlencode
from urllib.parse import urlsplit

from cryptography import x509
from lxml import etree
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from onelogin.saml2.errors import OneLogin_Saml2_Error
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError as Invalid
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML
from sqlalchemy.exc import IntegrityError

from core.extensions import db
from core.models import Organization
from core.models import SamlAssertionSeen
from core.models import SamlRequest
from core.models import SsoConfig
from core.models import utcnow
from core.okta import OktaError
from core.okta import check_metadata_url
from core.okta import fetch
from core.urls import public_url

ACS_PATH = "/api/v1/auth/login/okta/callback"
SP_METADATA_PATH = "/saml/metadata"
NAMEID_EMAIL = Saml.NAMEID_EMAIL_ADDRESS
# python3-saml allows this much clock difference on Conditions (a constant there).
CLOCK_SKEW = timedelta(seconds=Saml.ALLOWED_CLOCK_DRIFT)
REQUEST_LIFETIME = timedelta(minutes=10)
MAX_RESPONSE_BYTES = 256 * 1024
CERT_WARNING_DAYS = 30

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
# Okta's responses have about 60 nodes; thousands of group values still fit.
MAX_ELEMENTS = 10_000

NS = {"md": Saml.NS_MD, "ds": Saml.NS_DS, "saml": Saml.NS_SAML, "samlp": Saml.NS_SAMLP}


class SamlError(Exception):
    """A SAML response that must not sign anyone in.

    kind: what went wrong, in the terms of the page shown ("signature", "expired",
    "not_yet_valid", "audience", "destination", "issuer", "denied", "malformed",
    "unknown_request", "unknown_idp", "replayed", "invalid").
    reason: the technical detail, for the audit log.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


# -- IdP metadata ---------------------------------------------------------------


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
    try:
        root = OneLogin_Saml2_XML.to_etree(document)
    except Exception as exc:  # lxml, DTD and entity refusals all land here
        raise OktaError(
            "The metadata URL did not return SAML metadata. Copy the Identity "
            "Provider metadata URL from the app's Sign On tab in Okta."
        ) from exc
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
    entity, descriptor = idps[0]
    entity_id = (entity.get("entityID") or "").strip()
    if not entity_id:
        raise OktaError("The metadata has no entity ID.")
    if len(entity_id) > 500:  # it becomes OktaIdentity.issuer, String(500)
        raise OktaError("The metadata's entity ID is too long.")
    if Saml.NS_SAMLP not in (descriptor.get("protocolSupportEnumeration") or ""):
        raise OktaError("The metadata's identity provider does not support SAML 2.0.")
    if descriptor.get("WantAuthnRequestsSigned") in ("true", "1"):
        raise OktaError(
            "The Okta app asks for signed sign-in requests. Gatehouse sends them "
            "unsigned: in Okta, turn off 'Signed Requests' in the app's SAML "
            "settings, then continue."
        )
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
        sso_url = check_metadata_url(sso_urls[0])
    except OktaError as exc:
        raise OktaError("The metadata's sign-on URL is not an https URL.") from exc
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
    return IdpMetadata(entity_id=entity_id, sso_url=sso_url, certificates=certificates)


def fetch_saml_metadata(url: str) -> IdpMetadata:
    """Fetch and check an Okta app's SAML metadata.

    :raise OktaError: saying what is wrong.
    """
    url = check_metadata_url(url)
    return parse_idp_metadata(
        fetch(url, "application/samlmetadata+xml, application/xml, text/xml")
    )


# -- python3-saml settings --------------------------------------------------------


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


# -- SP-initiated sign-in ----------------------------------------------------------


def start_request(
    org: Organization,
    browser_hash: str,
    next_url: str = "",
    link_token_hash: str | None = None,
    link_user_id: int | None = None,
) -> str:
    """Record a new AuthnRequest for `org` (not committed); return Okta's URL for it.

    HTTP-Redirect binding: the request travels deflated in the query string.
    `browser_hash` is the hash of the browser's SAML cookie value.
    """
    config = org.sso_config
    assert config is not None and config.saml_sso_url
    request = OneLogin_Saml2_Authn_Request(settings_for(config))
    now = utcnow()
    db.session.add(
        SamlRequest(
            id=request.get_id(),
            organization_id=org.id,
            config_version=config.version,
            next_url=next_url,
            link_token_hash=link_token_hash,
            link_user_id=link_user_id,
            browser_hash=browser_hash,
            created_at=now,
            expires_at=now + REQUEST_LIFETIME,
        )
    )
    query = urlencode({"SAMLRequest": request.get_request()})
    separator = "&" if urlsplit(config.saml_sso_url).query else "?"
    return f"{config.saml_sso_url}{separator}{query}"


def pending_request(request_id: str) -> SamlRequest | None:
    """The unanswered, unexpired AuthnRequest with this ID, or None."""
    if not request_id or len(request_id) > 100:
        return None
    row = db.session.get(SamlRequest, request_id)
    if row is None or row.expires_at <= utcnow():
        return None
    return row


def consume_request(row: SamlRequest) -> bool:
    """Mark the request answered; False if another worker got there first."""
    result = db.session.execute(
        db.delete(SamlRequest).where(
            SamlRequest.id == row.id, SamlRequest.expires_at > utcnow()
        )
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def forget_expired() -> None:
    """Drop expired requests and replay-cache rows (not committed)."""
    now = utcnow()
    db.session.execute(db.delete(SamlRequest).where(SamlRequest.expires_at <= now))
    db.session.execute(
        db.delete(SamlAssertionSeen).where(SamlAssertionSeen.expires_at <= now)
    )


# -- responses -------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """What a response says about itself before anything is verified.

    Only used to find whose settings to verify it with.
    """

    issuer: str
    in_response_to: str | None


@dataclass(frozen=True)
class Assertion:
    """A verified assertion."""

    assertion_id: str
    issuer: str
    name_id: str
    name_id_format: str | None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    not_on_or_after: datetime | None = None

    def attribute(self, name: str) -> str:
        """The first value of an attribute, or ""."""
        values = self.attributes.get(name) or []
        return str(values[0]).strip() if values else ""


def decode_response(raw: str) -> bytes:
    """The XML of a posted SAMLResponse. :raise SamlError: if it is not base64."""
    if not raw:
        raise SamlError("malformed", "no SAMLResponse in the POST")
    if len(raw) > MAX_RESPONSE_BYTES * 4 // 3 + 4:
        raise SamlError("malformed", "SAMLResponse too large")
    try:
        return base64.b64decode("".join(raw.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SamlError("malformed", "SAMLResponse is not base64") from exc


def _strict_parser() -> etree.XMLParser:
    """A parser that keeps comments and PIs (to refuse them) and never fetches.

    python3-saml's own parser drops comments while parsing, which would hide
    the NameID-truncation trick instead of refusing it.
    """
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
    )


def _check_signature_shapes(root: etree._Element) -> None:
    """Refuse what Okta never sends and what makes verifying expensive.

    xmlsec would run any transform a signature names (an XPath transform over
    a padded document costs minutes of CPU), so only the shapes Okta uses pass:
    at most two signatures (response and assertion), each with exclusive
    canonicalization and one reference transformed by enveloped-signature and
    exclusive canonicalization (with its InclusiveNamespaces prefix list).
    """
    if sum(1 for _ in root.iter()) > MAX_ELEMENTS:
        raise SamlError("malformed", f"more than {MAX_ELEMENTS} XML nodes")
    signatures = root.findall(".//ds:Signature", NS)
    if len(signatures) > 2:
        raise SamlError("malformed", f"{len(signatures)} signatures")
    for signature in signatures:
        signed_info = signature.findall("ds:SignedInfo", NS)
        methods = (
            signed_info[0].findall("ds:CanonicalizationMethod", NS)
            if (len(signed_info) == 1)
            else []
        )
        references = signed_info[0].findall("ds:Reference", NS) if methods else []
        if (
            len(methods) != 1
            or methods[0].get("Algorithm") != EXC_C14N
            or len(methods[0])
            or len(references) != 1
        ):
            raise SamlError("malformed", "unexpected signature structure")
        for transform in references[0].iterfind("ds:Transforms/ds:Transform", NS):
            algorithm = transform.get("Algorithm")
            allowed_children = (
                {f"{{{EXC_C14N}}}InclusiveNamespaces"}
                if algorithm == EXC_C14N
                else set()
            )
            if algorithm not in (ENVELOPED, EXC_C14N) or any(
                child.tag not in allowed_children for child in transform
            ):
                raise SamlError("malformed", f"signature transform {algorithm!r}"[:300])


def peek(raw: str) -> Envelope:
    """Read the issuer and InResponseTo of a response, refusing hostile XML.

    A DTD (entity expansion, XXE), a comment (NameID truncation) or a
    processing instruction anywhere means the document did not come from Okta
    as it is.
    """
    document = decode_response(raw)
    try:
        root = etree.fromstring(document, parser=_strict_parser())
    except etree.LxmlError as exc:
        raise SamlError("malformed", f"unreadable XML: {exc}"[:300]) from exc
    if root.getroottree().docinfo.doctype or root.getroottree().docinfo.internalDTD:
        raise SamlError("malformed", "document type declaration")
    if root.xpath("//comment() | //processing-instruction()"):
        raise SamlError("malformed", "comment or processing instruction in response")
    if root.tag != f"{{{Saml.NS_SAMLP}}}Response":
        raise SamlError("malformed", f"root element is {root.tag}"[:300])
    _check_signature_shapes(root)
    issuers = root.findall("saml:Issuer", NS) or root.findall(
        "saml:Assertion/saml:Issuer", NS
    )
    issuer = (issuers[0].text or "").strip() if issuers else ""
    in_response_to = root.get("InResponseTo") or None
    return Envelope(issuer=issuer, in_response_to=in_response_to)


def organizations_for_issuer(issuer: str) -> list[Organization]:
    """Organizations whose Okta SAML app has this entity ID (should be one)."""
    if not issuer:
        return []
    return list(
        db.session.execute(
            db.select(Organization)
            .join(SsoConfig)
            .where(
                SsoConfig.provider == "okta",
                SsoConfig.protocol == "saml",
                SsoConfig.saml_entity_id == issuer,
            )
            .limit(2)
        ).scalars()
    )


# python3-saml's error codes, grouped by what the person (or admin) can do about it.
_KINDS = {
    "signature": {
        Invalid.INVALID_SIGNATURE,
        Invalid.NO_SIGNATURE_FOUND,
        Invalid.NO_SIGNED_ASSERTION,
        Invalid.NO_SIGNED_MESSAGE,
        Invalid.WRONG_SIGNED_ELEMENT,
        Invalid.ID_NOT_FOUND_IN_SIGNED_ELEMENT,
        Invalid.DUPLICATED_ID_IN_SIGNED_ELEMENTS,
        Invalid.INVALID_SIGNED_ELEMENT,
        Invalid.DUPLICATED_REFERENCE_IN_SIGNED_ELEMENTS,
        Invalid.UNEXPECTED_SIGNED_ELEMENTS,
        Invalid.WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE,
        Invalid.WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION,
        Invalid.WRONG_NUMBER_OF_SIGNATURES,
    },
    "weak_algorithm": {
        Invalid.DEPRECATED_SIGNATURE_METHOD,
        Invalid.DEPRECATED_DIGEST_METHOD,
    },
    "expired": {Invalid.ASSERTION_EXPIRED, Invalid.SESSION_EXPIRED},
    "not_yet_valid": {Invalid.ASSERTION_TOO_EARLY},
    "audience": {Invalid.WRONG_AUDIENCE},
    "destination": {Invalid.WRONG_DESTINATION, Invalid.EMPTY_DESTINATION},
    "issuer": {
        Invalid.WRONG_ISSUER,
        Invalid.ISSUER_MULTIPLE_IN_RESPONSE,
        Invalid.ISSUER_NOT_FOUND_IN_ASSERTION,
    },
    "denied": {Invalid.STATUS_CODE_IS_NOT_SUCCESS},
    "unknown_request": {Invalid.WRONG_INRESPONSETO},
    "malformed": {
        Invalid.UNSUPPORTED_SAML_VERSION,
        Invalid.MISSING_ID,
        Invalid.WRONG_NUMBER_OF_ASSERTIONS,
        Invalid.MISSING_STATUS,
        Invalid.MISSING_STATUS_CODE,
        Invalid.INVALID_XML_FORMAT,
        Invalid.MISSING_CONDITIONS,
        Invalid.WRONG_NUMBER_OF_AUTHSTATEMENTS,
        Invalid.NO_NAMEID,
        Invalid.EMPTY_NAMEID,
        Invalid.DUPLICATED_ATTRIBUTE_NAME_FOUND,
        Invalid.ENCRYPTED_ATTRIBUTES,
        Invalid.NO_ENCRYPTED_ASSERTION,
    },
}
_KIND_OF_CODE = {code: kind for kind, codes in _KINDS.items() for code in codes}


def _request_data() -> dict[str, object]:
    """Tell python3-saml that the response arrived at our public ACS URL.

    Built from PUBLIC_BASE_URL, not from request headers, so a proxy in front
    cannot make a response meant for another address look like ours.
    """
    parts = urlsplit(acs_url())
    return {
        "https": "on" if parts.scheme == "https" else "off",
        "http_host": parts.netloc,
        "script_name": parts.path,
        "get_data": {},
        "post_data": {},
    }


def _subject_confirmation_kind(response: OneLogin_Saml2_Response) -> str:
    """Why no bearer SubjectConfirmation was acceptable: request, address or time.

    Only picks the message; anything unreadable is just "invalid".
    """
    try:
        return _first_confirmation_problem(response)
    except (ValueError, TypeError, OneLogin_Saml2_Error):
        return "invalid"


def _bearer_confirmations(response: OneLogin_Saml2_Response) -> list[etree._Element]:
    """SubjectConfirmationData of the bearer confirmations of the signed assertion."""
    return response._query_assertion(  # noqa: SLF001 (reads the verified assertion)
        "/saml:Subject/saml:SubjectConfirmation[@Method='"
        + Saml.CM_BEARER
        + "']/saml:SubjectConfirmationData"
    )


def _first_confirmation_problem(response: OneLogin_Saml2_Response) -> str:
    now = OneLogin_Saml2_Utils.now()
    in_response_to = response.get_in_response_to()
    for data in _bearer_confirmations(response):
        answered = data.get("InResponseTo")
        if in_response_to and answered and answered != in_response_to:
            return "unknown_request"
        recipient = data.get("Recipient")
        if recipient and recipient != acs_url():
            return "destination"
        not_after = data.get("NotOnOrAfter")
        if not_after and OneLogin_Saml2_Utils.parse_SAML_to_time(not_after) <= now:
            return "expired"
        not_before = data.get("NotBefore")
        if not_before and OneLogin_Saml2_Utils.parse_SAML_to_time(not_before) > now:
            return "not_yet_valid"
    return "invalid"


def _status_detail(response: OneLogin_Saml2_Response) -> str:
    try:
        status = OneLogin_Saml2_Utils.get_status(response.document)
    except Exception:  # noqa: BLE001 (only for the audit text)
        return ""
    return " ".join(str(value) for value in status.values() if value)


def verify_response(config: SsoConfig, raw: str, request_id: str | None) -> Assertion:
    """Verify a response against one organization's Okta settings.

    `request_id` is the AuthnRequest it must answer (SP-initiated), or None for
    an Okta dashboard sign-in, which must then not claim to answer anything.
    :raise SamlError: for anything short of a fully valid, signed assertion.
    """
    try:
        response = OneLogin_Saml2_Response(settings_for(config), raw)
        response.is_valid(_request_data(), request_id, raise_exceptions=True)
    except Invalid as exc:
        kind = _KIND_OF_CODE.get(exc.code, "invalid")
        reason = str(exc)
        if exc.code == Invalid.WRONG_SUBJECTCONFIRMATION:
            kind = _subject_confirmation_kind(response)
        if exc.code == Invalid.STATUS_CODE_IS_NOT_SUCCESS:
            reason = f"{reason} {_status_detail(response)}".strip()
        raise SamlError(kind, reason[:500]) from exc
    except (OneLogin_Saml2_Error, etree.LxmlError, ValueError, TypeError) as exc:
        raise SamlError("malformed", str(exc)[:500]) from exc
    except Exception as exc:  # xmlsec and lxml raise their own types
        raise SamlError("invalid", f"{type(exc).__name__}: {exc}"[:500]) from exc
    _check_what_strict_mode_allows(response, request_id)
    try:
        return _assertion(response)
    except Invalid as exc:
        raise SamlError(_KIND_OF_CODE.get(exc.code, "invalid"), str(exc)[:500]) from exc
    except (ValueError, TypeError) as exc:
        raise SamlError("malformed", str(exc)[:500]) from exc


def _check_what_strict_mode_allows(
    response: OneLogin_Saml2_Response, request_id: str | None
) -> None:
    """Checks python3-saml skips when an element is absent, or matches loosely."""
    in_response_to = response.get_in_response_to()
    if request_id is None and in_response_to is not None:
        raise SamlError(
            "unknown_request", "unsolicited response claims to answer a request"
        )
    if request_id is not None and in_response_to != request_id:
        raise SamlError(
            "unknown_request",
            f"InResponseTo {in_response_to!r} is not request {request_id!r}",
        )
    destination = response.document.get("Destination")
    if destination is not None and destination != acs_url():
        raise SamlError("destination", f"Destination {destination!r}"[:500])
    if not response.get_audiences():
        raise SamlError("audience", "no AudienceRestriction in the assertion")
    confirmations = _bearer_confirmations(response)
    ours = [data for data in confirmations if data.get("Recipient") == acs_url()]
    if not ours:
        raise SamlError("destination", "no bearer confirmation for our ACS URL")
    # The Web SSO profile requires NotOnOrAfter on bearer confirmations; without
    # it an assertion would never expire and could outlive the replay cache.
    if not all(data.get("NotOnOrAfter") for data in confirmations):
        raise SamlError("malformed", "bearer confirmation without NotOnOrAfter")
    for data in confirmations:
        answered = data.get("InResponseTo")
        if answered is not None and answered != request_id:
            # Covers a dashboard response whose signed assertion answers a
            # request: its unsigned Response may have lost InResponseTo.
            raise SamlError(
                "unknown_request",
                f"SubjectConfirmationData answers {answered!r}, not {request_id!r}",
            )
    if request_id is not None and not any(
        data.get("InResponseTo") == request_id for data in ours
    ):
        # Only a signed InResponseTo proves the answer is for this request (the
        # Response's own attribute is unsigned when Okta signs the assertion only).
        raise SamlError(
            "unknown_request", "the signed assertion does not name the request"
        )


def _assertion(response: OneLogin_Saml2_Response) -> Assertion:
    assertion_id = response.get_assertion_id()
    issuers = response.get_issuers()
    name_id = (response.get_nameid() or "").strip()
    if not assertion_id or not name_id:
        raise SamlError("malformed", "assertion without ID or NameID")
    not_after = [
        OneLogin_Saml2_Utils.parse_SAML_to_time(node.get("NotOnOrAfter"))
        for node in _bearer_confirmations(response)
        + response._query_assertion("/saml:Conditions")  # noqa: SLF001
        if node.get("NotOnOrAfter")
    ]
    return Assertion(
        assertion_id=assertion_id,
        issuer=issuers[0] if issuers else "",
        name_id=name_id[:500],
        name_id_format=response.get_nameid_format(),
        attributes={
            str(name): [str(value)[:500] for value in values if value is not None]
            for name, values in response.get_attributes().items()
        },
        not_on_or_after=(
            datetime.fromtimestamp(max(not_after), UTC) if not_after else None
        ),
    )


def remember_assertion(org: Organization, assertion: Assertion) -> bool:
    """Record the assertion as used (flushed, not committed).

    Returns False, with the session rolled back, if it was used before. The
    row lives until the assertion could no longer be accepted anyway.
    """
    expires = (
        max(assertion.not_on_or_after or utcnow(), utcnow() + REQUEST_LIFETIME)
        + CLOCK_SKEW
    )
    db.session.add(
        SamlAssertionSeen(
            assertion_id=assertion.assertion_id[:200],
            organization_id=org.id,
            expires_at=expires,
        )
    )
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return False
    return True
