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

The class is assembled from its parts beside it: who the IdP is, its keys and
metadata (`saml_idp_identity`, `saml_keys`), AuthnRequests in
(`saml_idp_protocol`), Responses out (`saml_idp_response`), its web pages
(`saml_idp_pages`) and the SAML names they share (`saml_xml`).
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from types import TracebackType
from typing import Unpack

from tests.support.saml_idp_identity import IdpIdentity
from tests.support.saml_idp_identity import MetadataOptions
from tests.support.saml_idp_pages import ServedPages
from tests.support.saml_idp_pages import web_app
from tests.support.saml_idp_protocol import ReceivedAuthnRequest
from tests.support.saml_idp_protocol import SamlIdpError
from tests.support.saml_idp_protocol import check_authn_request
from tests.support.saml_idp_protocol import parse_authn_request
from tests.support.saml_idp_protocol import read_redirect
from tests.support.saml_idp_response import AuthnResponseOverrides
from tests.support.saml_idp_response import ResponseContext
from tests.support.saml_idp_response import ResponseOverrides
from tests.support.saml_idp_response import signed_response
from tests.support.saml_xml import BINDING_HTTP_REDIRECT


class SamlIdp(IdpIdentity):
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
        super().__init__(
            sp_entity_id,
            acs_url,
            entity_id=entity_id,
            tmp_dir=tmp_dir,
            public_host=public_host,
        )
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
        self._pages: ServedPages | None = None

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

    # -- serving ---------------------------------------------------------------

    def start(self) -> None:
        """Serve on 127.0.0.1 from a thread; `base_url` becomes its address."""
        if self._pages is not None:
            raise SamlIdpError("already started")
        pages = ServedPages(web_app(self))
        with self._lock:
            self._pages = pages
            self._serve_at(pages.port)
        pages.start()

    def stop(self) -> None:
        """Stop serving (the URLs keep their values)."""
        pages, self._pages = self._pages, None
        if pages is not None:
            pages.stop()

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
            received = parse_authn_request(
                self._pysaml2(),
                saml_request,
                binding=binding,
                relay_state=relay_state,
                signed=signed,
            )
            self.requests.append(received)
        check_authn_request(received, self.acs_url)
        return received

    def receive_redirect(self, redirect_location: str) -> ReceivedAuthnRequest:
        """`receive` the AuthnRequest in a URL the SP redirected a browser to."""
        saml_request, relay_state, signed = read_redirect(
            redirect_location, self.sso_url
        )
        return self.receive(
            saml_request,
            binding=BINDING_HTTP_REDIRECT,
            relay_state=relay_state,
            signed=signed,
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
        return self.answer(received, **overrides)

    def answer(
        self,
        received: ReceivedAuthnRequest,
        **overrides: Unpack[AuthnResponseOverrides],
    ) -> dict[str, str]:
        """SAMLResponse (and RelayState) answering `received`."""
        in_response_to = overrides.pop("in_response_to", received.id)
        fields = {"SAMLResponse": self.response_b64(in_response_to, **overrides)}
        if received.relay_state is not None:
            fields["RelayState"] = received.relay_state
        return fields

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
        now = time.time() + overrides.get("time_shift", 0)
        with self._lock:
            context = ResponseContext(
                server=self._pysaml2(),
                acs_url=self.acs_url,
                sp_entity_id=self.sp_entity_id,
                user=self.user,
                signing_key=self.signing_key,
            )
            return signed_response(context, in_response_to, now, overrides)
