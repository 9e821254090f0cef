"""A posted SAML response before anything is verified: read it, refuse hostile XML.

Documents with a DTD, comments or processing instructions are refused before
anything else reads them, and only the signature shapes Okta sends get as far
as xmlsec. What is left (issuer, InResponseTo) only says whose settings to
verify the response with.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml

from blueprints.okta_saml.errors import SamlError
from core.extensions import db
from core.models import Organization
from core.models import SsoConfig
from core.saml_metadata import NS

MAX_RESPONSE_BYTES = 256 * 1024

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
# Okta's responses have about 60 nodes; thousands of group values still fit.
MAX_ELEMENTS = 10_000


@dataclass(frozen=True)
class Envelope:
    """What a response says about itself before anything is verified.

    Only used to find whose settings to verify it with.
    """

    issuer: str
    in_response_to: str | None


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
