"""Who may change the organization's Okta settings: the connection itself, test
sign-ins, requiring Okta sign-in and Universal Logout.

Each question is one function answering why not (a sentence for the page or
the command line) or None. What an actor may do to members is
`core.authority`; what a key may do is `core.key_authority`.
"""

from __future__ import annotations

from core.authority import Actor


def sso_settings_problem(actor: Actor) -> str | None:
    """Why `actor` may not change the organization's Okta connection, or None.

    Owners only (and the command line): the identity provider decides who signs
    in as whom, owners included, so an admin who could point it at a provider
    of their own could sign in as an owner.
    """
    if actor.at_least("owner"):
        return None
    return (
        "Only an owner can change the Okta connection: the identity provider decides "
        "who signs in as whom, owners included."
    )


def sso_test_problem(actor: Actor) -> str | None:
    """Why `actor` may not start a test sign-in with Okta, or None.

    Owners and admins: a test signs nobody in and changes no setting, it only
    shows whether the saved settings work and what Okta sends (which admins,
    who manage every member, may see).
    """
    if actor.at_least("admin") and not actor.is_server:
        return None
    if actor.is_server:
        return "A test sign-in needs a browser: sign in as an owner or admin."
    return "Only owners and admins can test Okta sign-in."


def require_okta_problem(actor: Actor) -> str | None:
    """Why `actor` may not require Okta sign-in (or stop requiring it, or choose
    its exempt accounts), or None.

    Owners only (and the command line, the way back in when Okta is lost):
    requiring Okta decides whether anyone, owners included, can still sign in
    with a password, and the exempt accounts are the way around it; an admin
    who could choose them could lock the owners out or exempt themselves.
    """
    if actor.at_least("owner"):
        return None
    return (
        "Only an owner can require Okta sign-in or change who is exempt: it decides "
        "whether anyone, owners included, can still sign in with a password."
    )


def universal_logout_problem(actor: Actor, *, addressing: bool = False) -> str | None:
    """Why `actor` may not change Universal Logout, or None.

    Owners and admins (and the command line) turn it on and off. What decides
    whose tokens are believed (a SAML organization's Okta URL and app id) is
    the Okta connection's business: owners only, like `sso_settings_problem`.
    """
    if addressing:
        return sso_settings_problem(actor)
    if actor.at_least("admin"):
        return None
    return "Only owners and admins can change Universal Logout."
