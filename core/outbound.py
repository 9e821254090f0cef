"""The one way Gatehouse fetches anything from another server.

Every outbound request (Okta metadata at save and refresh, OIDC discovery, JWKS,
token and userinfo calls at sign-in) goes through a `GuardedSession`, which:

- allows https only (plain http to a loopback name only when
  OKTA_ALLOW_INSECURE_LOOPBACK is set, for local trials and tests);
- resolves the host itself and refuses the request when any address it resolves
  to is loopback, private, link-local, unspecified, multicast, reserved or
  otherwise not on the public internet (IPv4 inside IPv6 included), then
  connects to exactly the address it checked, so a name that re-resolves
  somewhere else between check and connect (DNS rebinding) gains nothing;
  OKTA_ALLOW_INSECURE_LOOPBACK lets loopback through and nothing else;
- never follows redirects (a 3xx is an answer like any other; callers refuse it);
- caps time (per read and in total) and size (decoded bytes, so a compressed
  bomb stops at the cap);
- ignores proxy settings from the environment, which would otherwise decide
  where the connection really goes.

Refusals raise `OutboundError`, whose message names the URL's host and what is
wrong with it and never repeats what the other server said.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError
from urllib3.exceptions import HTTPError
from urllib3.exceptions import NewConnectionError
from urllib3.util import connection as urllib3_connection

CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 5
TOTAL_SECONDS = 10
MAX_RESPONSE_BYTES = 512 * 1024
READ_CHUNK = 64 * 1024
MAX_URL_LENGTH = 1000
# RFC 6052's well-known NAT64 prefix carries an IPv4 address in its last 32 bits.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Never the public internet, whatever this Python's `is_global` says about them
# (its tables change between patch releases).
NOT_PUBLIC = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fec0::/10",
    )
)
# Addresses of one host tried in turn, at most.
MAX_ADDRESSES = 4


class OutboundError(Exception):
    """A request Gatehouse will not make, or an answer it will not read."""


# The running request's deadline and the sockets it opened: `_Guarded.request`
# sets them, `_CheckedConnect` (same thread) honours and fills them, and a timer
# shuts the sockets when the deadline passes, so no phase (resolving,
# connecting, TLS, status line, headers, body) outlives TOTAL_SECONDS.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "outbound_deadline", default=None
)
_sockets: contextvars.ContextVar[list[socket.socket] | None] = contextvars.ContextVar(
    "outbound_sockets", default=None
)
# getaddrinfo cannot be interrupted; it runs here and is waited for with a timeout.
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="outbound-dns")


def _remaining() -> float:
    """Seconds left before the running request's deadline (TOTAL_SECONDS if none)."""
    deadline = _deadline.get()
    return TOTAL_SECONDS if deadline is None else deadline - time.monotonic()


def allow_loopback() -> bool:
    """Whether this install lets outbound requests reach this machine (trials)."""
    return bool(current_app.config["OKTA_ALLOW_INSECURE_LOOPBACK"])


def is_loopback_name(host: str) -> bool:
    """Whether `host` is written as this machine (localhost or a loopback literal)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, label: str = "The URL") -> str:
    """Return `url` stripped, or raise OutboundError saying what is wrong with it.

    This looks at the text only; where the host really is, is checked when the
    connection is made (`address_problem`).
    """
    url = (url or "").strip()
    if len(url) > MAX_URL_LENGTH:
        raise OutboundError(f"{label} is too long.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as exc:  # "https://[::1", "https://host:99999"
        raise OutboundError(
            f"{label} is not a valid address; copy it again from Okta."
        ) from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise OutboundError(f"{label} must be a full https:// address.")
    if parts.username or parts.password:
        raise OutboundError(f"{label} must not contain a user name or password.")
    if parts.scheme == "http" and not (
        allow_loopback() and is_loopback_name(parts.hostname)
    ):
        raise OutboundError(f"{label} must use https://.")
    return url


def address_problem(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, loopback_ok: bool
) -> str | None:
    """Why Gatehouse will not connect to `address`, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv4 carried inside IPv6 (mapped, NAT64, 6to4, Teredo) is judged as IPv4.
        embedded = [
            candidate
            for candidate in (
                address.ipv4_mapped,
                ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
                if address in NAT64
                else None,
                address.sixtofour,
                *(address.teredo or ()),
            )
            if candidate is not None
        ]
        for inner in embedded:
            problem = address_problem(inner, loopback_ok)
            if problem is not None:
                return problem
        if address.ipv4_mapped is not None:
            return None
    if address.is_loopback:
        return None if loopback_ok else "this server itself (loopback)"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private network address"
    if not address.is_global or any(address in net for net in NOT_PUBLIC):
        return "a reserved address"
    return None


def resolve_checked(host: str, port: int, loopback_ok: bool) -> list[str]:
    """The addresses `host` resolves to, all of them allowed, or OutboundError.

    One refused address refuses the host: an attacker's name that resolves to
    both a public and an internal address must not get the internal one.
    """
    lookup = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = lookup.result(
            timeout=max(0.0, min(CONNECT_TIMEOUT_SECONDS, _remaining()))
        )
    except FutureTimeout as exc:
        raise OutboundError(f"The host {host} could not be found in time.") from exc
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundError(f"The host {host} could not be found.") from exc
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]
        problem = address_problem(ipaddress.ip_address(text), loopback_ok)
        if problem is not None:
            raise OutboundError(
                f"The host {host} is {problem}; Gatehouse only connects to "
                "addresses on the public internet, such as your Okta domain."
            )
        if text not in addresses:
            addresses.append(text)
    return addresses


class _CheckedConnect:
    """Connect only to addresses `resolve_checked` allowed (mixed into urllib3)."""

    loopback_ok = False
    # Provided by urllib3's HTTPConnection.
    _dns_host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    host: str

    def _new_conn(self) -> socket.socket:
        addresses = resolve_checked(self._dns_host, self.port, self.loopback_ok)
        last_error: OSError | None = None
        for address in addresses[:MAX_ADDRESSES]:
            remaining = _remaining()
            if remaining <= 0:
                break
            try:
                sock = urllib3_connection.create_connection(
                    (address, self.port),
                    min(CONNECT_TIMEOUT_SECONDS, remaining),
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out."
                ) from exc
            except OSError as exc:
                last_error = exc
                continue
            sock.settimeout(self.timeout)  # each read's own cap
            opened = _sockets.get()
            if opened is not None:
                opened.append(sock)
            return sock
        raise NewConnectionError(
            self,  # type: ignore[arg-type]
            f"Failed to establish a new connection: {last_error}",
        )


def _pool_classes(loopback_ok: bool) -> dict[str, type[HTTPConnectionPool]]:
    http_conn = type(
        "CheckedHTTPConnection",
        (_CheckedConnect, HTTPConnection),
        {"loopback_ok": loopback_ok},
    )
    https_conn = type(
        "CheckedHTTPSConnection",
        (_CheckedConnect, HTTPSConnection),
        {"loopback_ok": loopback_ok},
    )
    return {
        "http": type(
            "CheckedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}
        ),
        "https": type(
            "CheckedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}
        ),
    }


_POOLS = {flag: _pool_classes(flag) for flag in (False, True)}


class _CheckedAdapter(HTTPAdapter):
    """A requests adapter whose connections go only where `resolve_checked` says."""

    def __init__(self, loopback_ok: bool) -> None:
        self.loopback_ok = loopback_ok
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS[self.loopback_ok]


class _Guarded:
    """What makes a requests session guarded; mixed into requests' and Authlib's."""

    def _guard(self: Any) -> None:
        adapter = _CheckedAdapter(allow_loopback())
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.trust_env = False

    def request(self: Any, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        url = check_url(str(url))
        host = urlsplit(url).hostname
        kwargs["allow_redirects"] = False
        kwargs["stream"] = True
        kwargs["timeout"] = (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
        deadline = time.monotonic() + TOTAL_SECONDS
        opened: list[socket.socket] = []
        expired = threading.Event()
        timer = threading.Timer(TOTAL_SECONDS, _cut, args=(opened, expired))
        timer.daemon = True
        tokens = (_deadline.set(deadline), _sockets.set(opened))
        timer.start()
        try:
            response = super().request(method, url, *args, **kwargs)  # type: ignore[misc]
            try:
                _read_capped(response, host or "", deadline)
            finally:
                response.close()
        except (requests.RequestException, OSError) as exc:
            if expired.is_set():
                raise OutboundError(f"{host} did not answer in time.") from exc
            raise
        finally:
            timer.cancel()
            _deadline.reset(tokens[0])
            _sockets.reset(tokens[1])
        if expired.is_set():
            raise OutboundError(f"{host} did not answer in time.")
        return response


def _cut(opened: list[socket.socket], expired: threading.Event) -> None:
    """The deadline passed: end the request's connections wherever they are."""
    expired.set()
    for sock in list(opened):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _read_capped(response: requests.Response, host: str, deadline: float) -> None:
    """Read the body into the response, stopping at the size and time caps."""
    body = bytearray()
    try:
        while chunk := response.raw.read1(READ_CHUNK, decode_content=True):
            body += chunk
            if len(body) > MAX_RESPONSE_BYTES:
                raise OutboundError(
                    f"the answer from {host} is too large "
                    f"(over {MAX_RESPONSE_BYTES // 1024} KiB)."
                )
            if time.monotonic() > deadline:
                raise OutboundError(f"{host} did not answer in time.")
    except (OSError, ValueError, HTTPError) as exc:
        raise requests.ConnectionError(
            f"Reading the answer from {host} failed."
        ) from exc
    response._content = bytes(body)  # noqa: SLF001 (requests' own cache of the body)
    response._content_consumed = True  # noqa: SLF001


class GuardedSession(_Guarded, requests.Session):
    """A requests session for Gatehouse's own fetches."""

    def __init__(self) -> None:
        super().__init__()
        self._guard()


class GuardedOAuth2Session(_Guarded, OAuth2Session):
    """Authlib's OAuth 2 session, guarded: used for token, userinfo and JWKS calls."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard()


def get(url: str, accept: str) -> requests.Response:
    """GET `url` through a guarded session; the body is read and capped.

    :raise OutboundError: for a refused URL or destination, or an oversized or
        slow answer; requests' own exceptions for network failures.
    """
    with GuardedSession() as session:
        return session.request(
            "GET", url, headers={"Accept": accept, "User-Agent": "Gatehouse"}
        )
