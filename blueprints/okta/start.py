"""Starting an Okta sign-in, whichever protocol the organization uses.

The start page, the emailed link and "Link my Okta account" all begin here; the
protocol's own blueprint does the rest. A protocol blueprint claims its protocol
with `claim_protocol`, so this package never imports the protocol packages
(they import it: their sign-ins end in `outcome`).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Blueprint
from flask import current_app
from flask.blueprints import BlueprintSetupState
from werkzeug.wrappers import Response

from blueprints.okta.outcome import refuse
from core.models import LinkToken
from core.models import Organization
from core.models import User
from core.security import content_security_policy
from core.urls import MISSING_HELP
from core.urls import public_base_url

# Sends the browser to Okta: (organization, next URL, emailed link, own-account
# link user) -> the redirect.
Starter = Callable[[Organization, str | None, LinkToken | None, User | None], Response]

# Where an app keeps the starter of each protocol (app.extensions).
STARTERS = "gatehouse_okta_starters"


def claim_protocol(bp: Blueprint, protocol: str, starter: Starter) -> None:
    """Let `starter` begin the `protocol` sign-ins of every app `bp` is part of."""

    def record(state: BlueprintSetupState) -> None:
        state.app.extensions.setdefault(STARTERS, {})[protocol] = starter

    bp.record_once(record)


def start_flow(
    org: Organization,
    next_url: str | None,
    link_token: LinkToken | None = None,
    *,
    link_user: User | None = None,
) -> Response:
    """Remember what this sign-in is for and send the browser to Okta.

    `link_token` (the emailed link) or `link_user` (the signed-in member's own
    "Link my Okta account") names the account to bind. OIDC keeps this in the
    session; SAML organizations keep it server-side (see okta_saml.flow).
    """
    config = org.sso_config
    assert config is not None
    if public_base_url() is None:
        return refuse(MISSING_HELP, 503)
    starter: Starter = current_app.extensions[STARTERS][config.protocol]
    return starter(org, next_url, link_token, link_user)


def allow_form_to_okta(response: Response, org: Organization) -> Response:
    """Let a page's form end in a redirect to the organization's Okta (CSP).

    Browsers apply `form-action` to the redirects after a POST too.
    """
    config = org.sso_config
    if config is None:
        return response
    okta = urlsplit(
        (config.saml_sso_url if config.protocol == "saml" else config.oidc_issuer) or ""
    )
    if okta.scheme in ("https", "http") and okta.netloc:
        response.headers["Content-Security-Policy"] = content_security_policy(
            f"{okta.scheme}://{okta.netloc}"
        )
    return response
