"""The members list's filters: what each accepts, read from the query string,
and the SQL condition each adds to the search.

A value that is not one of a filter's choices is a clear error on the page
(400), never a 500 and never a silently different list.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields
from dataclasses import replace

from sqlalchemy import ColumnElement
from werkzeug.datastructures import MultiDict

from core import linking
from core.extensions import db
from core.models import OktaIdentity
from core.models import Organization
from core.models import User

LINKED = "linked"
NOT_LINKED = "not_linked"
RELINK = "relink"
# How a link state reads in the list (and its filter).
LINK_LABELS = {
    LINKED: "Linked",
    NOT_LINKED: "Not linked",
    RELINK: "Needs confirming again",
}
# How a sign-in went (`User.last_sign_in_method`), as the list says it.
METHOD_LABELS = {
    "password": "Password",
    "okta-oidc": "Okta OIDC",
    "okta-saml": "Okta SAML",
    "setup": "Setup",
    "backup": "Recovery code",
}
NEVER = "never"

# Each filter: its query-string name, its heading and its choices ("" = All).
CHOICES: dict[str, tuple[str, dict[str, str]]] = {
    "status": ("Status", {"active": "Active", "inactive": "Inactive"}),
    "role": ("Role", {"owner": "Owner", "admin": "Admin", "member": "Member"}),
    "method": (
        "Signed in with",
        {**METHOD_LABELS, NEVER: "Never signed in"},
    ),
    "scim": ("Managed by SCIM", {"yes": "Managed by SCIM", "no": "Not managed"}),
    "link": ("Okta link", LINK_LABELS),
}


@dataclass(frozen=True)
class Filters:
    """What the list is narrowed to; "" means no narrowing."""

    status: str = ""
    role: str = ""
    method: str = ""
    scim: str = ""
    link: str = ""

    def params(self) -> dict[str, str]:
        """The filters set, as query-string parameters (for links and paging)."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)
        }

    @property
    def beyond_status(self) -> bool:
        """Whether a filter other than status is set."""
        return any(getattr(self, name) for name in ("role", "method", "scim", "link"))


def read_filters(args: MultiDict[str, str]) -> tuple[Filters, list[str]]:
    """The filters in the query string, and what is wrong with any of them.

    A filter with a value outside its choices is dropped and named in the
    errors (the page then answers 400 and lists no one).
    """
    chosen = Filters()
    errors = []
    for name, (heading, choices) in CHOICES.items():
        value = args.get(name, "")
        if not value:
            continue
        if value not in choices:
            errors.append(
                f"{heading}: choose one of {', '.join(choices.values())} (or All)."
            )
            continue
        chosen = replace(chosen, **{name: value})
    return chosen, errors


def _identity_of_org(org_id: int):  # type: ignore[no-untyped-def]
    """Ids of the members of `org_id` with any Okta identity."""
    return db.select(OktaIdentity.user_id).where(OktaIdentity.organization_id == org_id)


def _linked_ids(org: Organization):  # type: ignore[no-untyped-def]
    """Ids of the members with an identity at the organization's current Okta."""
    config = org.sso_config
    if config is None:
        return None
    return db.select(OktaIdentity.user_id).where(linking.current_identity(config))


def link_condition(org: Organization, state: str) -> ColumnElement[bool]:
    """Members in link `state` (LINKED, NOT_LINKED or RELINK)."""
    any_identity = User.id.in_(_identity_of_org(org.id))
    linked = _linked_ids(org)
    if state == NOT_LINKED:
        return ~any_identity
    if linked is None:  # no Okta settings: nobody is linked
        return any_identity if state == RELINK else db.false()
    if state == LINKED:
        return User.id.in_(linked)
    return any_identity & User.id.not_in(linked)


def conditions(org: Organization, chosen: Filters) -> list[ColumnElement[bool]]:
    """The SQL conditions of the filters other than status (the search's own)."""
    terms: list[ColumnElement[bool]] = []
    if chosen.role:
        terms.append(User.role == chosen.role)
    if chosen.method == NEVER:
        terms.append(User.last_sign_in_at.is_(None))
    elif chosen.method:
        terms.append(User.last_sign_in_method == chosen.method)
    if chosen.scim:
        terms.append(User.scim_managed == (chosen.scim == "yes"))
    if chosen.link:
        terms.append(link_condition(org, chosen.link))
    return terms
