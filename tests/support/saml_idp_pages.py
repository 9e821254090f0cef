"""The test IdP's web pages, and the thread serving them on 127.0.0.1.

`GET /metadata`, `GET /sso/redirect` and `POST /sso/post` (an AuthnRequest in, a
"Test IdP sign-in" page out), `GET /dashboard` (IdP-initiated sign-in). Each page
is a form that posts the IdP's answer to the ACS URL, as Okta's does.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from collections.abc import Mapping
from typing import TYPE_CHECKING

from flask import Flask
from flask import request
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from tests.support.saml_idp_protocol import ReceivedAuthnRequest
from tests.support.saml_idp_protocol import SamlIdpError
from tests.support.saml_xml import BINDING_HTTP_POST

if TYPE_CHECKING:
    from tests.support.saml_idp import SamlIdp


def web_app(idp: SamlIdp) -> Flask:
    """The IdP's pages: metadata, SSO (Redirect and POST), dashboard."""
    web = Flask(__name__)

    @web.get("/metadata")
    def metadata() -> Response:
        idp.metadata_fetches += 1
        body = idp.served_metadata
        if body is None:
            body = idp.metadata_xml(**idp.metadata_options)
        return Response(
            body, status=idp.metadata_status, content_type="application/xml"
        )

    @web.get("/sso/redirect")
    def sso_redirect() -> Response:
        return _sign_in_page(idp, lambda: idp.receive_redirect(request.url))

    @web.post("/sso/post")
    def sso_post() -> Response:
        form = request.form
        return _sign_in_page(
            idp,
            lambda: idp.receive(
                form.get("SAMLRequest", ""),
                binding=BINDING_HTTP_POST,
                relay_state=form.get("RelayState"),
            ),
        )

    @web.get("/dashboard")
    def dashboard() -> Response:
        overrides = idp.http_overrides.copy()
        overrides.pop("in_response_to", None)
        fields = idp.unsolicited(
            relay_state=request.args.get("RelayState"), **overrides
        )
        return _page(
            idp, "Test IdP dashboard", fields, "idp-dashboard-app", "Gatehouse"
        )

    return web


def _sign_in_page(
    idp: SamlIdp, receive: Callable[[], ReceivedAuthnRequest]
) -> Response:
    """The page a person sees at Okta: who signs in, and a button."""
    try:
        received = receive()
    except SamlIdpError as exc:
        idp.errors.append(str(exc))
        return Response(f"Test IdP: {exc}", status=400, content_type="text/plain")
    fields = idp.answer(received, **idp.http_overrides)
    return _page(idp, "Test IdP sign-in", fields, "idp-sign-in", "Sign In")


def _page(
    idp: SamlIdp, title: str, fields: Mapping[str, str], button_id: str, button: str
) -> Response:
    """An HTML page with a form posting `fields` to the ACS URL."""
    esc = html.escape
    hidden = "\n".join(
        f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">'
        for name, value in fields.items()
    )
    user = idp.user
    names = " ".join(user[key] for key in ("firstName", "lastName") if key in user)
    who = f"{names} ({user.get('email', user['name_id'])})"
    body = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{esc(title)}</title></head>
<body>
<h1>{esc(title)}</h1>
<p>Signing in as <strong id="idp-user">{esc(who)}</strong>
to {esc(idp.sp_entity_id)}</p>
<form method="post" action="{esc(idp.acs_url)}">
{hidden}
<button id="{esc(button_id)}" type="submit">{esc(button)}</button>
</form>
</body>
</html>
"""
    return Response(body, content_type="text/html; charset=utf-8")


class ServedPages:
    """`app` served on 127.0.0.1 (a free port) from a daemon thread."""

    def __init__(self, app: Flask) -> None:
        self._http = make_server("127.0.0.1", 0, app, threaded=True)
        # A short poll interval: `stop()` waits for the loop to notice.
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="saml-idp",
            daemon=True,
        )

    @property
    def port(self) -> int:
        """The port the pages answer on."""
        return int(self._http.server_port)

    def start(self) -> None:
        """Start answering."""
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and close the socket."""
        self._http.shutdown()
        self._thread.join(timeout=10)
        self._http.server_close()
