"""Starting an Okta sign-in, whichever protocol the organization uses.

The start page, the emailed link and "Link my Okta account" all begin here; the
protocol's own blueprint does the rest. A protocol blueprint claims its protocol
with `claim_protocol`, so this package never imports the protocol packages
(they import it: their sign-ins end in `outcome`).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint
from flask import current_app
from flask.blueprints import BlueprintSetupState
from werkzeug.wrappers import Response

from blueprints.okta.outcome import refuse
from core.models import LinkToken
from core.models import Organization
from core.models import User
from core.security import content_security_policy
from core.sso_rollout import okta_origin
from core.urls import MISSING_HELP
from core.urls import public_base_url

# Sends the browser to Okta: (organization, next URL, emailed link, own-account
# link user) -> the redirect.
Starter = Callable[[Organization, str | None, LinkToken | None, User | None], Response]

# Sends an owner or admin to Okta for a test sign-in: (organization, tester).
TestStarter = Callable[[Organization, User], Response]

# Where an app keeps the starters of each protocol (app.extensions).
STARTERS = "gatehouse_okta_starters"
TEST_STARTERS = "gatehouse_okta_test_starters"


def claim_protocol(
    bp: Blueprint, protocol: str, starter: Starter, test_starter: TestStarter
) -> None:
    """Let `starter` begin the `protocol` sign-ins of every app `bp` is part of,
    and `test_starter` its test sign-ins."""

    def record(state: BlueprintSetupState) -> None:
        state.app.extensions.setdefault(STARTERS, {})[protocol] = starter
        state.app.extensions.setdefault(TEST_STARTERS, {})[protocol] = test_starter

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


def start_test(org: Organization, protocol: str, tester: User) -> Response:
    """Send an owner or admin to Okta for a test sign-in of `protocol`'s saved
    settings (whether or not members sign in with Okta yet)."""
    if public_base_url() is None:
        return refuse(MISSING_HELP, 503)
    starter: TestStarter = current_app.extensions[TEST_STARTERS][protocol]
    return starter(org, tester)


def allow_form_to_okta(response: Response, org: Organization) -> Response:
    """Let a page's form end in a redirect to the organization's Okta (CSP).

    Browsers apply `form-action` to the redirects after a POST too.
    """
    config = org.sso_config
    origin = okta_origin(config, config.protocol) if config is not None else None
    if origin:
        response.headers["Content-Security-Policy"] = content_security_policy(origin)
    return response
