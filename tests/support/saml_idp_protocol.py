"""The test IdP's side of SAML through pysaml2: its configuration, its metadata,
the AuthnRequests it receives.

`pysaml2_server` makes pysaml2's IdP `Server` for one SP, key and address;
`metadata_template` and `render_metadata` write the IdP's metadata from it (with
the signing certificates and SSO bindings a test asks for); `read_redirect`,
`parse_authn_request` and `check_authn_request` take an AuthnRequest in.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from cryptography.utils import CryptographyDeprecationWarning

from tests.support.saml_keys import KeyPair
from tests.support.saml_xml import BINDING_HTTP_POST
from tests.support.saml_xml import BINDING_HTTP_REDIRECT
from tests.support.saml_xml import DIGEST_SHA256
from tests.support.saml_xml import MD_PREFIXES
from tests.support.saml_xml import NAMEID_EMAIL
from tests.support.saml_xml import NAMEID_UNSPECIFIED
from tests.support.saml_xml import SIG_RSA_SHA256
from tests.support.saml_xml import with_declaration
from tests.support.saml_xml import xs_bool

# pysaml2 7.5.5 reaches for `modes.CFB` where cryptography 48 moved it (an
# import-time CryptographyDeprecationWarning); nothing here uses AES-CFB.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message="CFB has been moved",
        category=CryptographyDeprecationWarning,
    )
    from saml2 import md
    from saml2 import samlp
    from saml2 import xmldsig
    from saml2.config import IdPConfig
    from saml2.metadata import entity_descriptor
    from saml2.server import Server

XMLSEC1 = "/usr/bin/xmlsec1"


class SamlIdpError(Exception):
    """The IdP refused what it was given (a malformed or misdirected request)."""


@dataclass(frozen=True)
class ReceivedAuthnRequest:
    """An AuthnRequest the IdP received, as pysaml2 parsed it."""

    id: str
    issuer: str | None
    destination: str | None
    acs_url: str | None
    protocol_binding: str | None
    name_id_format: str | None
    allow_create: bool | None
    force_authn: bool | None
    is_passive: bool | None
    requested_authn_context: list[str]
    issue_instant: str
    relay_state: str | None
    binding: str
    signed: bool
    xml: bytes


# -- configuration -------------------------------------------------------------


def pysaml2_server(
    *,
    entity_id: str,
    sp_entity_id: str,
    acs_url: str,
    signing_key: KeyPair,
    sso_urls: tuple[str, str],
) -> Server:
    """pysaml2's IdP for this SP and key, with SSO at `sso_urls` (Redirect, POST)."""
    sso_url, sso_post_url = sso_urls
    config = IdPConfig().load(
        {
            "entityid": entity_id,
            "xmlsec_binary": XMLSEC1,
            "key_file": str(signing_key.key_file),
            "cert_file": str(signing_key.cert_file),
            "metadata": {"inline": [str(_sp_metadata(sp_entity_id, acs_url))]},
            "accepted_time_diff": 180,
            "service": {
                "idp": {
                    "name": "Gatehouse test IdP",
                    "endpoints": {
                        "single_sign_on_service": [
                            (sso_url, BINDING_HTTP_REDIRECT),
                            (sso_post_url, BINDING_HTTP_POST),
                        ]
                    },
                    "name_id_format": [NAMEID_EMAIL, NAMEID_UNSPECIFIED],
                    "want_authn_requests_signed": False,
                    "signing_algorithm": SIG_RSA_SHA256,
                    "digest_algorithm": DIGEST_SHA256,
                }
            },
        }
    )
    return Server(config=config)


def _sp_metadata(sp_entity_id: str, acs_url: str) -> md.EntityDescriptor:
    """The SP as pysaml2 must know it (written inline in its configuration)."""
    return md.EntityDescriptor(
        entity_id=sp_entity_id,
        spsso_descriptor=md.SPSSODescriptor(
            protocol_support_enumeration=samlp.NAMESPACE,
            authn_requests_signed="false",
            want_assertions_signed="true",
            name_id_format=[md.NameIDFormat(text=NAMEID_EMAIL)],
            assertion_consumer_service=[
                md.AssertionConsumerService(
                    binding=BINDING_HTTP_POST,
                    location=acs_url,
                    index="0",
                    is_default="true",
                )
            ],
        ),
    )


# -- metadata ------------------------------------------------------------------


def metadata_template(server: Server) -> bytes:
    """The IdP's metadata as pysaml2 writes it from the server's configuration."""
    descriptor = entity_descriptor(server.config)
    # pysaml2 lists every algorithm xmlsec1 knows (MD5, DSA...): Okta lists none.
    descriptor.extensions = None
    template: bytes = descriptor.to_string()
    return template


def render_metadata(
    template: bytes,
    certs: list[str],
    *,
    binding_redirect: bool,
    binding_post: bool,
) -> bytes:
    """`template` with one signing KeyDescriptor per cert (base64 DER) and only
    the SingleSignOnService bindings asked for."""
    descriptor = md.entity_descriptor_from_string(template)
    (idp,) = descriptor.idpsso_descriptor  # a list once parsed
    idp.key_descriptor = [_signing_key_descriptor(cert) for cert in certs]
    wanted = {
        BINDING_HTTP_REDIRECT: binding_redirect,
        BINDING_HTTP_POST: binding_post,
    }
    idp.single_sign_on_service = [
        service
        for service in idp.single_sign_on_service
        if wanted.get(service.binding, False)
    ]
    return with_declaration(descriptor.to_string_force_namespace(MD_PREFIXES))


def _signing_key_descriptor(cert: str) -> md.KeyDescriptor:
    """A signing KeyDescriptor holding `cert` (base64 DER)."""
    return md.KeyDescriptor(
        use="signing",
        key_info=xmldsig.KeyInfo(
            x509_data=[
                xmldsig.X509Data(x509_certificate=xmldsig.X509Certificate(text=cert))
            ]
        ),
    )


# -- AuthnRequests -------------------------------------------------------------


def read_redirect(redirect_location: str, sso_url: str) -> tuple[str, str | None, bool]:
    """SAMLRequest, RelayState and whether it is signed, from a URL the SP
    redirected a browser to (which must be `sso_url`)."""
    parts = urlsplit(redirect_location)
    endpoint = f"{parts.scheme}://{parts.netloc}{parts.path}"
    if endpoint != sso_url:
        raise SamlIdpError(f"{endpoint!r} is not this IdP's SSO URL {sso_url!r}")
    query = parse_qs(parts.query, keep_blank_values=True)
    if len(query.get("SAMLRequest", [])) != 1:
        raise SamlIdpError("the redirect has no single SAMLRequest parameter")
    relay_state = query.get("RelayState")
    return (
        query["SAMLRequest"][0],
        relay_state[0] if relay_state else None,
        "Signature" in query,
    )


def parse_authn_request(
    server: Server,
    saml_request: str,
    *,
    binding: str,
    relay_state: str | None,
    signed: bool,
) -> ReceivedAuthnRequest:
    """An encoded AuthnRequest as pysaml2 parses it (`SamlIdpError` if it cannot,
    or finds it not destined for this IdP)."""
    try:
        parsed = server.parse_authn_request(saml_request, binding)
    except Exception as exc:
        raise SamlIdpError(f"unusable AuthnRequest: {exc!r}") from exc
    if parsed is None:
        raise SamlIdpError("unusable AuthnRequest")
    message: samlp.AuthnRequest = parsed.message
    xml = parsed.xmlstr
    policy = message.name_id_policy
    context = message.requested_authn_context
    return ReceivedAuthnRequest(
        id=message.id,
        issuer=message.issuer.text if message.issuer is not None else None,
        destination=message.destination,
        acs_url=message.assertion_consumer_service_url,
        protocol_binding=message.protocol_binding,
        name_id_format=policy.format if policy is not None else None,
        allow_create=xs_bool(policy.allow_create) if policy is not None else None,
        force_authn=xs_bool(message.force_authn),
        is_passive=xs_bool(message.is_passive),
        requested_authn_context=(
            [ref.text for ref in context.authn_context_class_ref]
            if context is not None
            else []
        ),
        issue_instant=message.issue_instant,
        relay_state=relay_state,
        binding=binding,
        signed=signed or message.signature is not None,
        xml=xml if isinstance(xml, bytes) else xml.encode("utf-8"),
    )


def check_authn_request(received: ReceivedAuthnRequest, acs_url: str) -> None:
    """Refuse (`SamlIdpError`) an AssertionConsumerServiceURL other than `acs_url`
    or a ProtocolBinding other than HTTP-POST, as Okta does."""
    if received.acs_url is not None and received.acs_url != acs_url:
        raise SamlIdpError(
            f"AssertionConsumerServiceURL {received.acs_url!r} is not the"
            f" configured ACS URL {acs_url!r}"
        )
    if received.protocol_binding not in (None, BINDING_HTTP_POST):
        raise SamlIdpError(f"unsupported ProtocolBinding {received.protocol_binding}")
