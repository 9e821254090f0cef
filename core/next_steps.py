"""What a new install's owner does next, until each is done (issue #13).

The members page, where setup lands, lists the steps still open: set the
public address, connect Okta, turn on SCIM. Each is read from the state it
describes, so a step disappears as soon as it is done, whoever did it (page,
command line, another admin).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Organization
from core.urls import public_base_url


@dataclass(frozen=True)
class Step:
    """One thing to do; `endpoint` (+ `anchor`) is the page where it is done."""

    key: str
    title: str
    detail: str
    done: bool
    endpoint: str
    anchor: str = ""
    command: str = ""


def next_steps(org: Organization) -> list[Step]:
    """Every step of `org`'s setup, done or not, in the order to do them."""
    config = org.sso_config
    okta_on = bool(config is not None and config.okta_enabled)
    scim_on = bool(config is not None and config.scim_enabled)
    paid = org.has_paid_plan
    return [
        Step(
            key="public-url",
            title="Set Gatehouse's public address",
            detail=(
                "Emailed links and the values you paste into Okta are built from "
                "it. Whoever runs the server sets it from the Gatehouse folder:"
            ),
            done=public_base_url() is not None,
            endpoint="settings.index",
            anchor="scim",
            command=".venv/bin/flask site set-url https://gatehouse.example.com",
        ),
        Step(
            key="okta",
            title="Connect Okta",
            detail=(
                "Save your Okta app's settings, test a sign-in, then turn it on "
                "for everyone."
                if paid
                else "Okta sign-in needs the Pro or Enterprise plan: Settings "
                "shows the command that switches it on."
            ),
            done=okta_on,
            endpoint="settings.okta" if paid else "settings.index",
        ),
        Step(
            key="scim",
            title="Turn on SCIM provisioning",
            detail="Okta then adds, updates and deactivates members and pushes groups.",
            done=scim_on,
            endpoint="settings.index",
            anchor="scim",
        ),
    ]
