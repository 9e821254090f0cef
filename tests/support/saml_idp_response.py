"""The test IdP's Responses: built by pysaml2, made dishonest on request, signed.

`signed_response` turns what the IdP knows at that moment (`ResponseContext`)
and a test's `ResponseOverrides` into the Response XML: pysaml2 builds it
unsigned (an assertion for a Success, none for another status), the overrides
set its fields, `before_signing` may edit the XML, and xmlsec1 signs the
assertion and then the response (enveloped exc-c14n RSA-SHA256, SHA-256 digest
unless asked otherwise).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

from cryptography.utils import CryptographyDeprecationWarning
from lxml import etree

from tests.support.saml_keys import KeyPair
from tests.support.saml_xml import ATTRNAME_UNSPECIFIED
from tests.support.saml_xml import DIGEST_SHA256
from tests.support.saml_xml import NAMEID_EMAIL
from tests.support.saml_xml import PASSWORD_PROTECTED_TRANSPORT
from tests.support.saml_xml import PREFIXES
from tests.support.saml_xml import SIG_RSA_SHA256
from tests.support.saml_xml import STATUS_AUTHN_FAILED
from tests.support.saml_xml import STATUS_RESPONDER
from tests.support.saml_xml import STATUS_SUCCESS
from tests.support.saml_xml import instant
from tests.support.saml_xml import with_declaration

# pysaml2 7.5.5 reaches for `modes.CFB` where cryptography 48 moved it (an
# import-time CryptographyDeprecationWarning); nothing here uses AES-CFB.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message="CFB has been moved",
        category=CryptographyDeprecationWarning,
    )
    from saml2 import class_name
    from saml2 import saml
    from saml2 import samlp
    from saml2 import xmldsig
    from saml2.server import Server
    from saml2.sigver import pre_signature_part

_ASSERTION_NODE = class_name(saml.Assertion())
_RESPONSE_NODE = class_name(samlp.Response())


class ResponseOverrides(TypedDict, total=False):
    """Ways to make a response dishonest; a key left out keeps the honest value.

    - `name_id`, `name_id_format`: the Subject's NameID (default `user["name_id"]`,
      emailAddress).
    - `attributes`: name -> value or list of values (default firstName, lastName,
      email from `user`); `{}` leaves out the AttributeStatement.
    - `issuer`: the text of both Issuer elements (default the IdP entity ID).
    - `audience`: default the SP entity ID; `None` leaves out AudienceRestriction.
    - `destination`: the Response's Destination (default the ACS URL; `None` omits).
    - `recipient`: SubjectConfirmationData Recipient (default the ACS URL; `None`
      omits).
    - `sign_assertion` (default True), `sign_response` (default True).
    - `sign_alg`, `digest_alg`: algorithm URIs (default RSA-SHA256, SHA-256).
    - `signing_key`: sign with this `KeyPair` instead of the IdP's current one.
    - `time_shift`: seconds added to every instant (-3600: expired; +3600: not yet
      valid). `lifetime`: seconds from IssueInstant to NotOnOrAfter (default 300).
    - `status`, `sub_status`, `status_message`: a non-Success status makes a
      failed sign-in response, which carries no assertion.
    - `before_signing`: called with the Response element (lxml) after all the
      above and before the signatures are computed, to change anything else.
    """

    name_id: str
    name_id_format: str
    attributes: Mapping[str, str | list[str]]
    issuer: str
    audience: str | None
    destination: str | None
    recipient: str | None
    sign_assertion: bool
    sign_response: bool
    sign_alg: str
    digest_alg: str
    signing_key: KeyPair
    time_shift: int
    lifetime: int
    status: str
    sub_status: str | None
    status_message: str | None
    before_signing: Callable[[etree._Element], None]


class AuthnResponseOverrides(ResponseOverrides, total=False):
    """`ResponseOverrides` plus `in_response_to` (default: the request's ID)."""

    in_response_to: str | None


@dataclass(frozen=True)
class ResponseContext:
    """What the IdP knows when it answers: its pysaml2 server, the SP, the user."""

    server: Server
    acs_url: str
    sp_entity_id: str
    user: Mapping[str, str]
    signing_key: KeyPair


def signed_response(
    context: ResponseContext,
    in_response_to: str | None,
    now: float,
    overrides: ResponseOverrides,
) -> bytes:
    """The signed Response XML, every instant `now` or `now + lifetime`."""
    if overrides.get("status", STATUS_SUCCESS) == STATUS_SUCCESS:
        response = _success_response(context, in_response_to, now, overrides)
    else:
        response = _failed_response(context, in_response_to, overrides)
    _common_fields(response, context, now, overrides)
    return _sign(context, response, overrides)


def _success_response(
    context: ResponseContext,
    in_response_to: str | None,
    now: float,
    overrides: ResponseOverrides,
) -> samlp.Response:
    """pysaml2's unsigned Response; the assertion's fields set to final values.

    Every instant is `now` (IssueInstant, NotBefore, AuthnInstant) or
    `now + lifetime` (both NotOnOrAfter), so `time_shift` moves them all.
    """
    response = _authn_response(context, in_response_to, overrides)
    assertion: saml.Assertion = response.assertion
    later = now + overrides.get("lifetime", 300)
    assertion.issue_instant = instant(now)
    issuer = overrides.get("issuer")
    if issuer is not None:
        assertion.issuer.text = issuer
    _confirm_subject(assertion, context, in_response_to, later, overrides)
    _set_conditions(assertion, context, now, later, overrides)
    for statement in assertion.authn_statement:
        statement.authn_instant = instant(now)
    attributes = overrides.get("attributes", _user_attributes(context.user))
    assertion.attribute_statement = _attribute_statements(attributes)
    if overrides.get("sign_assertion", True):
        assertion.signature = _signature_template(assertion.id, context, overrides)
    return response


def _authn_response(
    context: ResponseContext,
    in_response_to: str | None,
    overrides: ResponseOverrides,
) -> samlp.Response:
    """pysaml2's unsigned Response to a sign-in, with the NameID asked for."""
    name_id = saml.NameID(
        format=overrides.get("name_id_format", NAMEID_EMAIL),
        text=overrides.get("name_id", context.user["name_id"]),
    )
    response: samlp.Response = context.server.create_authn_response(
        {},
        in_response_to,
        context.acs_url,
        context.sp_entity_id,
        name_id=name_id,
        authn={"class_ref": PASSWORD_PROTECTED_TRANSPORT},
        sign_assertion=False,
        sign_response=False,
    )
    return response


def _confirm_subject(
    assertion: saml.Assertion,
    context: ResponseContext,
    in_response_to: str | None,
    later: float,
    overrides: ResponseOverrides,
) -> None:
    """The bearer SubjectConfirmationData: NotOnOrAfter, Recipient, InResponseTo."""
    (confirmation,) = assertion.subject.subject_confirmation
    confirmation_data = confirmation.subject_confirmation_data
    confirmation_data.not_on_or_after = instant(later)
    confirmation_data.recipient = overrides.get("recipient", context.acs_url)
    confirmation_data.in_response_to = in_response_to


def _set_conditions(
    assertion: saml.Assertion,
    context: ResponseContext,
    now: float,
    later: float,
    overrides: ResponseOverrides,
) -> None:
    """Conditions: NotBefore, NotOnOrAfter and the AudienceRestriction."""
    conditions = assertion.conditions
    conditions.not_before = instant(now)
    conditions.not_on_or_after = instant(later)
    audience = overrides.get("audience", context.sp_entity_id)
    conditions.audience_restriction = (
        []
        if audience is None
        else [saml.AudienceRestriction(audience=[saml.Audience(text=audience)])]
    )


def _user_attributes(user: Mapping[str, str]) -> dict[str, str]:
    """The honest attributes: firstName, lastName and email, those the user has."""
    return {
        name: user[name] for name in ("firstName", "lastName", "email") if name in user
    }


def _attribute_statements(
    attributes: Mapping[str, str | list[str]],
) -> list[saml.AttributeStatement]:
    """Okta's AttributeStatement (NameFormat unspecified, xs:string values)."""
    if not attributes:
        return []
    return [
        saml.AttributeStatement(
            attribute=[
                saml.Attribute(
                    name=name,
                    name_format=ATTRNAME_UNSPECIFIED,
                    attribute_value=[
                        saml.AttributeValue(text=value)
                        for value in ([values] if isinstance(values, str) else values)
                    ],
                )
                for name, values in attributes.items()
            ]
        )
    ]


def _failed_response(
    context: ResponseContext,
    in_response_to: str | None,
    overrides: ResponseOverrides,
) -> samlp.Response:
    """pysaml2's error Response (no assertion) with the status asked for."""
    status = overrides.get("status", STATUS_RESPONDER)
    sub_status = overrides.get("sub_status")
    message = overrides.get("status_message")
    response: samlp.Response = context.server.create_error_response(
        in_response_to,
        context.acs_url,
        (sub_status or STATUS_AUTHN_FAILED, message),
        sign=False,
    )
    response.status = samlp.Status(
        status_code=samlp.StatusCode(
            value=status,
            status_code=(samlp.StatusCode(value=sub_status) if sub_status else None),
        ),
        status_message=samlp.StatusMessage(text=message) if message else None,
    )
    return response


def _common_fields(
    response: samlp.Response,
    context: ResponseContext,
    now: float,
    overrides: ResponseOverrides,
) -> None:
    """IssueInstant, Destination, Issuer of the Response itself."""
    response.issue_instant = instant(now)
    response.destination = overrides.get("destination", context.acs_url)
    issuer = overrides.get("issuer")
    if issuer is not None:
        response.issuer.text = issuer


def _signing_key(context: ResponseContext, overrides: ResponseOverrides) -> KeyPair:
    """The key that signs: the one asked for, else the IdP's current key."""
    return overrides.get("signing_key", context.signing_key)


def _signature_template(
    reference_id: str, context: ResponseContext, overrides: ResponseOverrides
) -> xmldsig.Signature:
    """An empty enveloped signature with the signing certificate in KeyInfo."""
    return pre_signature_part(
        reference_id,
        _signing_key(context, overrides).cert_b64,
        sign_alg=overrides.get("sign_alg", SIG_RSA_SHA256),
        digest_alg=overrides.get("digest_alg", DIGEST_SHA256),
    )


def _sign(
    context: ResponseContext, response: samlp.Response, overrides: ResponseOverrides
) -> bytes:
    """Serialize, let `before_signing` edit, then sign with xmlsec1."""
    to_sign: list[tuple[str, str]] = []
    assertion = response.assertion
    if isinstance(assertion, saml.Assertion) and assertion.signature is not None:
        to_sign.append((_ASSERTION_NODE, assertion.id))
    if overrides.get("sign_response", True):
        response.signature = _signature_template(response.id, context, overrides)
        to_sign.append((_RESPONSE_NODE, response.id))
    xml = with_declaration(response.to_string_force_namespace(PREFIXES))
    before_signing = overrides.get("before_signing")
    if before_signing is not None:
        root = etree.fromstring(xml)
        before_signing(root)
        xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    key_file = str(_signing_key(context, overrides).key_file)
    text = xml.decode("utf-8")
    # The assertion first: the response's signature covers the assertion's.
    for node_name, node_id in to_sign:
        text = context.server.sec.sign_statement(
            text, node_name, key_file=key_file, node_id=node_id
        )
    return text.encode("utf-8")
