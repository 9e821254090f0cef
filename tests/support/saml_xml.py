"""The SAML names the test IdP uses, and how Okta writes its XML.

pysaml2's URIs (bindings, NameID formats, signature and digest algorithms,
status codes) under short names, the namespace prefixes Okta's documents use,
and the formats of their instants, booleans and XML declaration. The IdP's
parts (`saml_idp_response`, `saml_idp_protocol`, `saml_idp_pages`) share them;
tests pick algorithms and statuses from here to make a response dishonest.
"""

from __future__ import annotations

import datetime
import warnings

from cryptography.utils import CryptographyDeprecationWarning

# pysaml2 7.5.5 reaches for `modes.CFB` where cryptography 48 moved it (an
# import-time CryptographyDeprecationWarning); nothing here uses AES-CFB.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message="CFB has been moved",
        category=CryptographyDeprecationWarning,
    )
    import saml2
    from saml2 import md
    from saml2 import saml
    from saml2 import samlp
    from saml2 import xmldsig

BINDING_HTTP_POST = saml2.BINDING_HTTP_POST
BINDING_HTTP_REDIRECT = saml2.BINDING_HTTP_REDIRECT

NAMEID_EMAIL = saml.NAMEID_FORMAT_EMAILADDRESS
NAMEID_UNSPECIFIED = saml.NAMEID_FORMAT_UNSPECIFIED
PASSWORD_PROTECTED_TRANSPORT = (
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
)
ATTRNAME_UNSPECIFIED = saml.NAME_FORMAT_UNSPECIFIED

SIG_RSA_SHA256 = xmldsig.SIG_RSA_SHA256
SIG_RSA_SHA1 = xmldsig.SIG_RSA_SHA1
DIGEST_SHA256 = xmldsig.DIGEST_SHA256
DIGEST_SHA1 = xmldsig.DIGEST_SHA1

STATUS_SUCCESS = samlp.STATUS_SUCCESS
STATUS_REQUESTER = samlp.STATUS_REQUESTER
STATUS_RESPONDER = samlp.STATUS_RESPONDER
STATUS_REQUEST_DENIED = samlp.STATUS_REQUEST_DENIED
STATUS_AUTHN_FAILED = samlp.STATUS_AUTHN_FAILED

# Okta's prefixes, so the XML reads like the real thing.
PREFIXES = {
    "saml2p": samlp.NAMESPACE,
    "saml2": saml.NAMESPACE,
    "ds": xmldsig.NAMESPACE,
    "xs": "http://www.w3.org/2001/XMLSchema",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
MD_PREFIXES = {"md": md.NAMESPACE, "ds": xmldsig.NAMESPACE}


def instant(timestamp: float) -> str:
    """An xs:dateTime in UTC with milliseconds, as Okta writes them."""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def xs_bool(value: str | None) -> bool | None:
    """An xs:boolean attribute as a Python bool (None when absent)."""
    if value is None:
        return None
    return str(value).strip().lower() in ("true", "1")


def with_declaration(xml: bytes | str) -> bytes:
    """`xml` as UTF-8 bytes starting with an XML declaration (as Okta sends)."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    if data.startswith(b"<?xml"):
        return data
    return b'<?xml version="1.0" encoding="UTF-8"?>' + data
