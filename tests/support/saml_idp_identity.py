"""Who the test IdP is and whom it serves, and what pysaml2 makes of that.

`IdpIdentity` holds the IdP's entity ID, its SP (entity ID and ACS URL), its
addresses and its keys, and the pysaml2 server and metadata made from them;
changing any of them forgets those, to be made again when next needed.
`SamlIdp` (in `saml_idp`) builds the conversation with the SP on top of it.
"""

from __future__ import annotations

import secrets
import string
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from typing import TypedDict

from tests.support.saml_idp_protocol import metadata_template
from tests.support.saml_idp_protocol import pysaml2_server
from tests.support.saml_idp_protocol import render_metadata
from tests.support.saml_keys import KeyPair
from tests.support.saml_keys import pem_to_b64

if TYPE_CHECKING:
    # For annotations only: this module imports nothing of saml2 when it runs.
    from saml2.server import Server

# Before `start()` the IdP has no address; its URLs use this placeholder (https,
# as an app checking metadata wants; ".invalid" never resolves).
UNSTARTED_BASE_URL = "https://idp.invalid"


class MetadataOptions(TypedDict, total=False):
    """Keyword arguments of `SamlIdp.metadata_xml`."""

    include_signing_cert: bool
    extra_certs: Iterable[str]
    binding_redirect: bool
    binding_post: bool


def _okta_like_entity_id() -> str:
    """An entity ID shaped like Okta's: http://www.okta.com/exk + 17 characters."""
    alphabet = string.ascii_letters + string.digits
    return "http://www.okta.com/exk" + "".join(
        secrets.choice(alphabet) for _ in range(17)
    )


class IdpIdentity:
    """The IdP's entity ID, SP, addresses and keys (see `SamlIdp` for the
    arguments), and its lock."""

    def __init__(
        self,
        sp_entity_id: str,
        acs_url: str,
        *,
        entity_id: str | None,
        tmp_dir: Path,
        public_host: str,
    ) -> None:
        self._lock = threading.RLock()
        self.public_host = public_host
        self.tmp_dir = tmp_dir
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self._entity_id = entity_id or _okta_like_entity_id()
        self._sp_entity_id = sp_entity_id
        self._acs_url = acs_url
        self._base_url = UNSTARTED_BASE_URL
        self._key_count = 0
        self.keys: list[KeyPair] = [self.make_key_pair()]
        self._pysaml2_server: Server | None = None
        self._metadata_template: bytes | None = None

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

    # -- addresses -----------------------------------------------------------

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

    def _serve_at(self, port: int) -> None:
        """The IdP's URLs now name `port` on `public_host`."""
        with self._lock:
            self._base_url = f"http://{self.public_host}:{port}"
            self._invalidate()

    # -- keys ----------------------------------------------------------------

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

    # -- what pysaml2 makes of it --------------------------------------------

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
                self._metadata_template = metadata_template(self._pysaml2())
            template = self._metadata_template
            keys = list(self.keys)
        certs = [key.cert_b64 for key in keys] if include_signing_cert else []
        certs += [pem_to_b64(cert) for cert in extra_certs]
        return render_metadata(
            template,
            certs,
            binding_redirect=binding_redirect,
            binding_post=binding_post,
        )

    def _pysaml2(self) -> Server:
        """The pysaml2 server for the current SP, key and address (call locked)."""
        if self._pysaml2_server is None:
            self._pysaml2_server = pysaml2_server(
                entity_id=self.entity_id,
                sp_entity_id=self.sp_entity_id,
                acs_url=self.acs_url,
                signing_key=self.signing_key,
                sso_urls=(self.sso_url, self.sso_post_url),
            )
        return self._pysaml2_server

    def _invalidate(self) -> None:
        """Forget pysaml2's server and metadata: SP, key or address changed."""
        with self._lock:
            self._pysaml2_server = None
            self._metadata_template = None
