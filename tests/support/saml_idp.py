"""A real SAML 2.0 identity provider for tests, standing in for Okta.

`SamlIdp` is pysaml2 (an independent SAML implementation) acting as the IdP: it
parses the AuthnRequests our service provider sends, builds the Response and signs
it by running Debian's `xmlsec1` with its own RSA key, made fresh for each IdP.
It serves its metadata and a sign-in page on 127.0.0.1 for live-server and browser
tests; Flask test-client tests need no HTTP at all (`respond_to`, `unsolicited`).

An honest response looks like Okta's: a `samlp:Response` with Destination, Issuer
and Status Success holding one `saml:Assertion` (enveloped exc-c14n RSA-SHA256
signature, SHA-256 digest) with an emailAddress NameID, a bearer
SubjectConfirmation, Conditions with an Audience, an AuthnStatement
(PasswordProtectedTransport) and the attributes firstName, lastName and email.
Each part can be made dishonest through keyword overrides (`ResponseOverrides`).
"""

from __future__ import annotations

import base64
import datetime
import html
import secrets
import string
import threading
import time
import warnings
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypedDict
from typing import Unpack
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID
from flask import Flask
from flask import request
from lxml import etree
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

# pysaml2 7.5.5 reaches for `modes.CFB` where cryptography 48 moved it (an
# import-time CryptographyDeprecationWarning); nothing here uses AES-CFB.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message="CFB has been moved",
        category=CryptographyDeprecationWarning,
    )
    from saml2 import BINDING_HTTP_POST
    from saml2 import BINDING_HTTP_REDIRECT
    from saml2 import class_name
    from saml2 import md
    from saml2 import saml
    from saml2 import samlp
    from saml2 import xmldsig
    from saml2.config import IdPConfig
    from saml2.metadata import entity_descriptor
    from saml2.server import Server
    from saml2.sigver import pre_signature_part

XMLSEC1 = "/usr/bin/xmlsec1"

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
_PREFIXES = {
    "saml2p": samlp.NAMESPACE,
    "saml2": saml.NAMESPACE,
    "ds": xmldsig.NAMESPACE,
    "xs": "http://www.w3.org/2001/XMLSchema",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
_MD_PREFIXES = {"md": md.NAMESPACE, "ds": xmldsig.NAMESPACE}
_ASSERTION_NODE = class_name(saml.Assertion())
_RESPONSE_NODE = class_name(samlp.Response())
# Before `start()` the IdP has no address; its URLs use this placeholder (https,
# as an app checking metadata wants; ".invalid" never resolves).
_UNSTARTED_BASE_URL = "https://idp.invalid"


class SamlIdpError(Exception):
    """The IdP refused what it was given (a malformed or misdirected request)."""


@dataclass(frozen=True)
class KeyPair:
    """An RSA 2048 key and its self-signed certificate, both as PEM files too."""

    key_pem: bytes
    cert_pem: bytes
    key_file: Path
    cert_file: Path

    @classmethod
    def generate(cls, directory: Path, name: str) -> KeyPair:
        """Make a fresh key pair; write `<name>.key.pem` and `<name>.cert.pem`."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Gatehouse tests"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"test-idp-{name}"),
            ]
        )
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        directory.mkdir(parents=True, exist_ok=True)
        key_file = directory / f"{name}.key.pem"
        cert_file = directory / f"{name}.cert.pem"
        key_file.write_bytes(key_pem)
        cert_file.write_bytes(cert_pem)
        return cls(key_pem, cert_pem, key_file, cert_file)

    @property
    def cert_b64(self) -> str:
        """The certificate as one line of base64 DER (as in metadata and KeyInfo)."""
        return _pem_to_b64(self.cert_pem.decode("ascii"))

    @property
    def certificate(self) -> x509.Certificate:
        """The certificate as a `cryptography` object."""
        return x509.load_pem_x509_certificate(self.cert_pem)


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


class MetadataOptions(TypedDict, total=False):
    """Keyword arguments of `SamlIdp.metadata_xml`."""

    include_signing_cert: bool
    extra_certs: Iterable[str]
    binding_redirect: bool
    binding_post: bool


def _pem_to_b64(cert: str) -> str:
    """A certificate given as PEM or base64 DER, as one line of base64 DER."""
    lines = [line.strip() for line in cert.strip().splitlines()]
    return "".join(line for line in lines if line and not line.startswith("-----"))


def _instant(timestamp: float) -> str:
    """An xs:dateTime in UTC with milliseconds, as Okta writes them."""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _okta_like_entity_id() -> str:
    """An entity ID shaped like Okta's: http://www.okta.com/exk + 17 characters."""
    alphabet = string.ascii_letters + string.digits
    return "http://www.okta.com/exk" + "".join(
        secrets.choice(alphabet) for _ in range(17)
    )


class SamlIdp:
    """A pysaml2 IdP on 127.0.0.1 with its own key pair (RSA 2048, self-signed).

    Routes once `start()`ed (or entered as a context manager): `GET /metadata`
    (`served_metadata` if set, else `metadata_xml(**metadata_options)`, with
    `metadata_status`), `GET /sso/redirect` and `POST /sso/post` (an AuthnRequest
    in; a "Test IdP sign-in" page out, whose button `#idp-sign-in` posts the
    response to the ACS), and `GET /dashboard?RelayState=...` (IdP-initiated:
    button `#idp-dashboard-app` posts an unsolicited response). Responses made for
    HTTP use `http_overrides`.

    `sp_entity_id`, `acs_url` and `user` may be changed at any time.

    `public_host` is the host name in the IdP's own URLs (metadata, SSO,
    dashboard); it serves on 127.0.0.1 either way. A browser test passes
    "localhost" to put the IdP on another site than an app on 127.0.0.1, so the
    POST to the ACS is cross-site as it is from Okta.
    """

    def __init__(
        self,
        sp_entity_id: str,
        acs_url: str,
        *,
        entity_id: str | None = None,
        tmp_dir: Path,
        public_host: str = "127.0.0.1",
    ) -> None:
        self._lock = threading.RLock()
        self.public_host = public_host
        self.tmp_dir = tmp_dir
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self._entity_id = entity_id or _okta_like_entity_id()
        self._sp_entity_id = sp_entity_id
        self._acs_url = acs_url
        self._base_url = _UNSTARTED_BASE_URL
        self._key_count = 0
        self.keys: list[KeyPair] = [self.make_key_pair()]
        self.user: dict[str, str] = {
            "name_id": "ann@acme.test",
            "email": "ann@acme.test",
            "firstName": "Ann",
            "lastName": "Lee",
        }
        self.requests: list[ReceivedAuthnRequest] = []
        self.errors: list[str] = []
        self.metadata_options: MetadataOptions = {}
        self.served_metadata: bytes | None = None
        self.metadata_status = 200
        self.metadata_fetches = 0
        self.http_overrides: AuthnResponseOverrides = {}
        self._pysaml2_server: Server | None = None
        self._metadata_template: bytes | None = None
        self._http: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def reset(self) -> None:
        """Forget what was received and served; honest again (keys are kept)."""
        with self._lock:
            self.requests.clear()
            self.errors.clear()
            self.metadata_options = {}
            self.served_metadata = None
            self.metadata_status = 200
            self.metadata_fetches = 0
            self.http_overrides = {}

    # -- configuration -------------------------------------------------------

    @property
    def entity_id(self) -> str:
        """The IdP's entity ID (Issuer), Okta-shaped unless given."""
        return self._entity_id

    @entity_id.setter
    def entity_id(self, value: str) -> None:
        with self._lock:
            self._entity_id = value
            self._invalidate()

    @property
    def sp_entity_id(self) -> str:
        """The SP's entity ID: the default Audience, and the SP pysaml2 knows."""
        return self._sp_entity_id

    @sp_entity_id.setter
    def sp_entity_id(self, value: str) -> None:
        with self._lock:
            self._sp_entity_id = value
            self._invalidate()

    @property
    def acs_url(self) -> str:
        """The SP's ACS URL (HTTP-POST): Destination, Recipient, form action."""
        return self._acs_url

    @acs_url.setter
    def acs_url(self, value: str) -> None:
        with self._lock:
            self._acs_url = value
            self._invalidate()

    @property
    def base_url(self) -> str:
        """`http://{public_host}:PORT` once started (a placeholder before)."""
        return self._base_url

    @property
    def metadata_url(self) -> str:
        """Where `GET` returns the IdP metadata."""
        return f"{self._base_url}/metadata"

    @property
    def sso_url(self) -> str:
        """The HTTP-Redirect SingleSignOnService."""
        return f"{self._base_url}/sso/redirect"

    @property
    def sso_post_url(self) -> str:
        """The HTTP-POST SingleSignOnService."""
        return f"{self._base_url}/sso/post"

    @property
    def dashboard_url(self) -> str:
        """The IdP-initiated sign-in page (Okta's dashboard tile)."""
        return f"{self._base_url}/dashboard"

    @property
    def signing_key(self) -> KeyPair:
        """The key pair responses are signed with."""
        return self.keys[0]

    @property
    def cert_b64(self) -> str:
        """The signing certificate as base64 DER."""
        return self.signing_key.cert_b64

    @property
    def cert_pem(self) -> str:
        """The signing certificate as PEM."""
        return self.signing_key.cert_pem.decode("ascii")

    def make_key_pair(self) -> KeyPair:
        """A fresh key pair in `tmp_dir`, not published (for "another key")."""
        with self._lock:
            self._key_count += 1
            number = self._key_count
        return KeyPair.generate(self.tmp_dir, f"key{number}")

    def rotate_key(self) -> None:
        """A new key pair signs from now on; metadata lists it and the old ones."""
        new = self.make_key_pair()
        with self._lock:
            self.keys.insert(0, new)
            self._invalidate()

    def finish_rotation(self) -> None:
        """Forget all but the current key (metadata then lists only its cert)."""
        with self._lock:
            del self.keys[1:]
            self._invalidate()

    # -- serving ---------------------------------------------------------------

    def start(self) -> None:
        """Serve on 127.0.0.1 from a thread; `base_url` becomes its address."""
        if self._http is not None:
            raise SamlIdpError("already started")
        http = make_server("127.0.0.1", 0, self._web_app(), threaded=True)
        # A short poll interval: `stop()` waits for the loop to notice.
        thread = threading.Thread(
            target=http.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="saml-idp",
            daemon=True,
        )
        with self._lock:
            self._http, self._thread = http, thread
            self._base_url = f"http://{self.public_host}:{http.server_port}"
            self._invalidate()
        thread.start()

    def stop(self) -> None:
        """Stop serving (the URLs keep their values)."""
        http, thread = self._http, self._thread
        self._http = self._thread = None
        if http is not None:
            http.shutdown()
            if thread is not None:
                thread.join(timeout=10)
            http.server_close()

    def __enter__(self) -> SamlIdp:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- metadata ----------------------------------------------------------------

    def metadata_xml(
        self,
        *,
        include_signing_cert: bool = True,
        extra_certs: Iterable[str] = (),
        binding_redirect: bool = True,
        binding_post: bool = True,
    ) -> bytes:
        """The IdP's metadata, as pysaml2 writes it from the IdP's configuration.

        `include_signing_cert=False` leaves out the KeyDescriptors of the IdP's
        own keys (all of them while a rotation is in progress); `extra_certs`
        (PEM or base64 DER) are added as more signing KeyDescriptors; the
        `binding_*` flags choose which SingleSignOnService endpoints appear.
        """
        with self._lock:
            if self._metadata_template is None:
                descriptor = entity_descriptor(self._pysaml2().config)
                # pysaml2 lists every algorithm xmlsec1 knows (MD5, DSA...): Okta
                # lists none.
                descriptor.extensions = None
                self._metadata_template = descriptor.to_string()
            template = self._metadata_template
            keys = list(self.keys)
        descriptor = md.entity_descriptor_from_string(template)
        (idp,) = descriptor.idpsso_descriptor  # a list once parsed
        certs = [key.cert_b64 for key in keys] if include_signing_cert else []
        certs += [_pem_to_b64(cert) for cert in extra_certs]
        idp.key_descriptor = [
            md.KeyDescriptor(
                use="signing",
                key_info=xmldsig.KeyInfo(
                    x509_data=[
                        xmldsig.X509Data(
                            x509_certificate=xmldsig.X509Certificate(text=cert)
                        )
                    ]
                ),
            )
            for cert in certs
        ]
        wanted = {
            BINDING_HTTP_REDIRECT: binding_redirect,
            BINDING_HTTP_POST: binding_post,
        }
        idp.single_sign_on_service = [
            service
            for service in idp.single_sign_on_service
            if wanted.get(service.binding, False)
        ]
        return _with_declaration(descriptor.to_string_force_namespace(_MD_PREFIXES))

    # -- AuthnRequests -----------------------------------------------------------

    def receive(
        self,
        saml_request: str,
        *,
        binding: str = BINDING_HTTP_REDIRECT,
        relay_state: str | None = None,
        signed: bool = False,
    ) -> ReceivedAuthnRequest:
        """Parse an encoded AuthnRequest with pysaml2, check it, and record it.

        Refused (`SamlIdpError`): what pysaml2 cannot parse or finds not destined
        for this IdP, and an AssertionConsumerServiceURL other than `acs_url` or a
        ProtocolBinding other than HTTP-POST (Okta refuses those too).
        """
        with self._lock:
            server = self._pysaml2()
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
            received = ReceivedAuthnRequest(
                id=message.id,
                issuer=message.issuer.text if message.issuer is not None else None,
                destination=message.destination,
                acs_url=message.assertion_consumer_service_url,
                protocol_binding=message.protocol_binding,
                name_id_format=policy.format if policy is not None else None,
                allow_create=(
                    _xs_bool(policy.allow_create) if policy is not None else None
                ),
                force_authn=_xs_bool(message.force_authn),
                is_passive=_xs_bool(message.is_passive),
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
            self.requests.append(received)
        if received.acs_url is not None and received.acs_url != self.acs_url:
            raise SamlIdpError(
                f"AssertionConsumerServiceURL {received.acs_url!r} is not the"
                f" configured ACS URL {self.acs_url!r}"
            )
        if received.protocol_binding not in (None, BINDING_HTTP_POST):
            raise SamlIdpError(
                f"unsupported ProtocolBinding {received.protocol_binding}"
            )
        return received

    def receive_redirect(self, redirect_location: str) -> ReceivedAuthnRequest:
        """`receive` the AuthnRequest in a URL the SP redirected a browser to."""
        parts = urlsplit(redirect_location)
        endpoint = f"{parts.scheme}://{parts.netloc}{parts.path}"
        if endpoint != self.sso_url:
            raise SamlIdpError(
                f"{endpoint!r} is not this IdP's SSO URL {self.sso_url!r}"
            )
        query = parse_qs(parts.query, keep_blank_values=True)
        if len(query.get("SAMLRequest", [])) != 1:
            raise SamlIdpError("the redirect has no single SAMLRequest parameter")
        relay_state = query.get("RelayState")
        return self.receive(
            query["SAMLRequest"][0],
            binding=BINDING_HTTP_REDIRECT,
            relay_state=relay_state[0] if relay_state else None,
            signed="Signature" in query,
        )

    # -- responses ----------------------------------------------------------------

    def respond_to(
        self, redirect_location: str, **overrides: Unpack[AuthnResponseOverrides]
    ) -> dict[str, str]:
        """The form fields a browser would POST to the ACS after signing in.

        `redirect_location` is the full URL the SP sent the browser to
        (`sso_url?SAMLRequest=...&RelayState=...`); its AuthnRequest is decoded,
        checked and recorded in `requests`. Returns `{"SAMLResponse": base64}`
        plus `"RelayState"` when the request carried one.
        """
        received = self.receive_redirect(redirect_location)
        return self._form_fields(received, overrides)

    def unsolicited(
        self,
        *,
        relay_state: str | None = None,
        **overrides: Unpack[ResponseOverrides],
    ) -> dict[str, str]:
        """Form fields of an IdP-initiated sign-in (Okta dashboard): no InResponseTo."""
        fields = {"SAMLResponse": self.response_b64(None, **overrides)}
        if relay_state is not None:
            fields["RelayState"] = relay_state
        return fields

    def response_b64(
        self, in_response_to: str | None = None, **overrides: Unpack[ResponseOverrides]
    ) -> str:
        """`response_xml`, base64-encoded as the HTTP-POST binding sends it."""
        xml = self.response_xml(in_response_to, **overrides)
        return base64.b64encode(xml).decode("ascii")

    def response_xml(
        self, in_response_to: str | None = None, **overrides: Unpack[ResponseOverrides]
    ) -> bytes:
        """The signed Response XML (see `ResponseOverrides` for what can change)."""
        status = overrides.get("status", STATUS_SUCCESS)
        now = time.time() + overrides.get("time_shift", 0)
        with self._lock:
            server = self._pysaml2()
            if status == STATUS_SUCCESS:
                response = self._success_response(
                    server, in_response_to, now, overrides
                )
            else:
                response = self._failed_response(server, in_response_to, overrides)
            self._common_fields(response, now, overrides)
            return self._sign(server, response, overrides)

    def _success_response(
        self,
        server: Server,
        in_response_to: str | None,
        now: float,
        overrides: ResponseOverrides,
    ) -> samlp.Response:
        """pysaml2's unsigned Response; the assertion's fields set to final values.

        Every instant is `now` (IssueInstant, NotBefore, AuthnInstant) or
        `now + lifetime` (both NotOnOrAfter), so `time_shift` moves them all.
        """
        name_id = saml.NameID(
            format=overrides.get("name_id_format", NAMEID_EMAIL),
            text=overrides.get("name_id", self.user["name_id"]),
        )
        response: samlp.Response = server.create_authn_response(
            {},
            in_response_to,
            self.acs_url,
            self.sp_entity_id,
            name_id=name_id,
            authn={"class_ref": PASSWORD_PROTECTED_TRANSPORT},
            sign_assertion=False,
            sign_response=False,
        )
        assertion: saml.Assertion = response.assertion
        later = now + overrides.get("lifetime", 300)
        assertion.issue_instant = _instant(now)
        issuer = overrides.get("issuer")
        if issuer is not None:
            assertion.issuer.text = issuer

        (confirmation,) = assertion.subject.subject_confirmation
        confirmation_data = confirmation.subject_confirmation_data
        confirmation_data.not_on_or_after = _instant(later)
        confirmation_data.recipient = overrides.get("recipient", self.acs_url)
        confirmation_data.in_response_to = in_response_to

        conditions = assertion.conditions
        conditions.not_before = _instant(now)
        conditions.not_on_or_after = _instant(later)
        audience = overrides.get("audience", self.sp_entity_id)
        conditions.audience_restriction = (
            []
            if audience is None
            else [saml.AudienceRestriction(audience=[saml.Audience(text=audience)])]
        )
        for statement in assertion.authn_statement:
            statement.authn_instant = _instant(now)

        attributes = overrides.get(
            "attributes",
            {
                name: self.user[name]
                for name in ("firstName", "lastName", "email")
                if name in self.user
            },
        )
        assertion.attribute_statement = _attribute_statements(attributes)
        if overrides.get("sign_assertion", True):
            assertion.signature = self._signature_template(assertion.id, overrides)
        return response

    def _failed_response(
        self,
        server: Server,
        in_response_to: str | None,
        overrides: ResponseOverrides,
    ) -> samlp.Response:
        """pysaml2's error Response (no assertion) with the status asked for."""
        status = overrides.get("status", STATUS_RESPONDER)
        sub_status = overrides.get("sub_status")
        message = overrides.get("status_message")
        response: samlp.Response = server.create_error_response(
            in_response_to,
            self.acs_url,
            (sub_status or STATUS_AUTHN_FAILED, message),
            sign=False,
        )
        response.status = samlp.Status(
            status_code=samlp.StatusCode(
                value=status,
                status_code=(
                    samlp.StatusCode(value=sub_status) if sub_status else None
                ),
            ),
            status_message=samlp.StatusMessage(text=message) if message else None,
        )
        return response

    def _common_fields(
        self, response: samlp.Response, now: float, overrides: ResponseOverrides
    ) -> None:
        """IssueInstant, Destination, Issuer of the Response itself."""
        response.issue_instant = _instant(now)
        response.destination = overrides.get("destination", self.acs_url)
        issuer = overrides.get("issuer")
        if issuer is not None:
            response.issuer.text = issuer

    def _signature_template(
        self, reference_id: str, overrides: ResponseOverrides
    ) -> xmldsig.Signature:
        """An empty enveloped signature with the signing certificate in KeyInfo."""
        key = overrides.get("signing_key", self.signing_key)
        return pre_signature_part(
            reference_id,
            key.cert_b64,
            sign_alg=overrides.get("sign_alg", SIG_RSA_SHA256),
            digest_alg=overrides.get("digest_alg", DIGEST_SHA256),
        )

    def _sign(
        self, server: Server, response: samlp.Response, overrides: ResponseOverrides
    ) -> bytes:
        """Serialize, let `before_signing` edit, then sign with xmlsec1."""
        to_sign: list[tuple[str, str]] = []
        assertion = response.assertion
        if isinstance(assertion, saml.Assertion) and assertion.signature is not None:
            to_sign.append((_ASSERTION_NODE, assertion.id))
        if overrides.get("sign_response", True):
            response.signature = self._signature_template(response.id, overrides)
            to_sign.append((_RESPONSE_NODE, response.id))
        xml = _with_declaration(response.to_string_force_namespace(_PREFIXES))
        before_signing = overrides.get("before_signing")
        if before_signing is not None:
            root = etree.fromstring(xml)
            before_signing(root)
            xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        key_file = str(overrides.get("signing_key", self.signing_key).key_file)
        text = xml.decode("utf-8")
        # The assertion first: the response's signature covers the assertion's.
        for node_name, node_id in to_sign:
            text = server.sec.sign_statement(
                text, node_name, key_file=key_file, node_id=node_id
            )
        return text.encode("utf-8")

    def _form_fields(
        self, received: ReceivedAuthnRequest, overrides: AuthnResponseOverrides
    ) -> dict[str, str]:
        """SAMLResponse (and RelayState) answering `received`."""
        in_response_to = overrides.pop("in_response_to", received.id)
        fields = {"SAMLResponse": self.response_b64(in_response_to, **overrides)}
        if received.relay_state is not None:
            fields["RelayState"] = received.relay_state
        return fields

    # -- pysaml2 -----------------------------------------------------------------

    def _config(self) -> IdPConfig:
        """pysaml2's IdP configuration; the SP's metadata is written inline."""
        sp_metadata = md.EntityDescriptor(
            entity_id=self.sp_entity_id,
            spsso_descriptor=md.SPSSODescriptor(
                protocol_support_enumeration=samlp.NAMESPACE,
                authn_requests_signed="false",
                want_assertions_signed="true",
                name_id_format=[md.NameIDFormat(text=NAMEID_EMAIL)],
                assertion_consumer_service=[
                    md.AssertionConsumerService(
                        binding=BINDING_HTTP_POST,
                        location=self.acs_url,
                        index="0",
                        is_default="true",
                    )
                ],
            ),
        )
        return IdPConfig().load(
            {
                "entityid": self.entity_id,
                "xmlsec_binary": XMLSEC1,
                "key_file": str(self.signing_key.key_file),
                "cert_file": str(self.signing_key.cert_file),
                "metadata": {"inline": [str(sp_metadata)]},
                "accepted_time_diff": 180,
                "service": {
                    "idp": {
                        "name": "Gatehouse test IdP",
                        "endpoints": {
                            "single_sign_on_service": [
                                (self.sso_url, BINDING_HTTP_REDIRECT),
                                (self.sso_post_url, BINDING_HTTP_POST),
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

    def _pysaml2(self) -> Server:
        """The pysaml2 server for the current SP, key and address (call locked)."""
        if self._pysaml2_server is None:
            self._pysaml2_server = Server(config=self._config())
        return self._pysaml2_server

    def _invalidate(self) -> None:
        """Forget pysaml2's server and metadata: SP, key or address changed."""
        with self._lock:
            self._pysaml2_server = None
            self._metadata_template = None

    # -- web -----------------------------------------------------------------------

    def _web_app(self) -> Flask:
        """The IdP's pages: metadata, SSO (Redirect and POST), dashboard."""
        web = Flask(__name__)

        @web.get("/metadata")
        def metadata() -> Response:
            self.metadata_fetches += 1
            body = self.served_metadata
            if body is None:
                body = self.metadata_xml(**self.metadata_options)
            return Response(
                body, status=self.metadata_status, content_type="application/xml"
            )

        @web.get("/sso/redirect")
        def sso_redirect() -> Response:
            return self._sign_in_page(lambda: self.receive_redirect(request.url))

        @web.post("/sso/post")
        def sso_post() -> Response:
            form = request.form
            return self._sign_in_page(
                lambda: self.receive(
                    form.get("SAMLRequest", ""),
                    binding=BINDING_HTTP_POST,
                    relay_state=form.get("RelayState"),
                )
            )

        @web.get("/dashboard")
        def dashboard() -> Response:
            overrides = self.http_overrides.copy()
            overrides.pop("in_response_to", None)
            fields = self.unsolicited(
                relay_state=request.args.get("RelayState"), **overrides
            )
            return self._page(
                "Test IdP dashboard", fields, "idp-dashboard-app", "Gatehouse"
            )

        return web

    def _sign_in_page(self, receive: Callable[[], ReceivedAuthnRequest]) -> Response:
        """The page a person sees at Okta: who signs in, and a button."""
        try:
            received = receive()
        except SamlIdpError as exc:
            self.errors.append(str(exc))
            return Response(f"Test IdP: {exc}", status=400, content_type="text/plain")
        fields = self._form_fields(received, self.http_overrides.copy())
        return self._page("Test IdP sign-in", fields, "idp-sign-in", "Sign In")

    def _page(
        self, title: str, fields: Mapping[str, str], button_id: str, button: str
    ) -> Response:
        """An HTML page with a form posting `fields` to the ACS URL."""
        esc = html.escape
        hidden = "\n".join(
            f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">'
            for name, value in fields.items()
        )
        user = self.user
        names = " ".join(user[key] for key in ("firstName", "lastName") if key in user)
        who = f"{names} ({user.get('email', user['name_id'])})"
        body = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{esc(title)}</title></head>
<body>
<h1>{esc(title)}</h1>
<p>Signing in as <strong id="idp-user">{esc(who)}</strong>
to {esc(self.sp_entity_id)}</p>
<form method="post" action="{esc(self.acs_url)}">
{hidden}
<button id="{esc(button_id)}" type="submit">{esc(button)}</button>
</form>
</body>
</html>
"""
        return Response(body, content_type="text/html; charset=utf-8")


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


def _xs_bool(value: str | None) -> bool | None:
    """An xs:boolean attribute as a Python bool (None when absent)."""
    if value is None:
        return None
    return str(value).strip().lower() in ("true", "1")


def _with_declaration(xml: bytes | str) -> bytes:
    """`xml` as UTF-8 bytes starting with an XML declaration (as Okta sends)."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    if data.startswith(b"<?xml"):
        return data
    return b'<?xml version="1.0" encoding="UTF-8"?>' + data
