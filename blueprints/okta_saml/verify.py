"""Verifying a SAML response against one organization's Okta settings.

python3-saml does the XML signature and protocol checks in strict mode; this
module adds what strict mode leaves out (for this product): an audience and a
destination are required, the recipient and destination must be our ACS URL
exactly, and SP-initiated responses must name the request they answer. Every
failure is a `SamlError` whose `kind` picks the message a person sees and whose
`reason` is the technical detail for the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from urllib.parse import urlsplit

from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from onelogin.saml2.errors import OneLogin_Saml2_Error
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError as Invalid
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from blueprints.okta_saml.errors import SamlError
from blueprints.okta_saml.sp import acs_url
from blueprints.okta_saml.sp import settings_for
from core.models import SsoConfig


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
