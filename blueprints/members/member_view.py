"""What the member page (`/members/<id>`) shows of a member, and its forms."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from flask_login import current_user

from blueprints.members.filters import METHOD_LABELS
from blueprints.members.forms import InvitationForm
from blueprints.members.forms import LinkEmailForm
from blueprints.members.forms import RemoveIdentityForm
from blueprints.members.forms import RoleForm
from blueprints.members.forms import StatusForm
from blueprints.members.forms import UnlockForm
from blueprints.members.queries import groups_of
from blueprints.members.queries import identities_of
from blueprints.okta.forms import ContinueForm
from core import authority
from core import linking
from core import throttle
from core.authority import Actor
from core.models import OktaIdentity
from core.models import Organization
from core.models import User
from core.sso import sso_available

# How each way of deactivating reads: "Deactivated by … <via>".
DEACTIVATED_VIA = {
    "page": "on the members page",
    "scim": "by Okta over SCIM",
    "cli": "at the command line (flask)",
}


def identity_is_current(org: Organization) -> Callable[[OktaIdentity], bool]:
    """Whether an identity is at the organization's current protocol and issuer."""
    config = org.sso_config

    def is_current(identity: OktaIdentity) -> bool:
        return (
            config is not None
            and sso_available(org)
            and identity.protocol == config.protocol
            and identity.issuer == linking.current_issuer(config)
        )

    return is_current


# What Okta sends over SCIM for a managed member (core.provisioning.profiles).
SCIM_FIELDS = "email, userName, first name, last name, display name and status"


def member_page_parts(user: User, org: Organization) -> dict[str, object]:
    """What the member's page shows of `user`, and the forms it offers."""
    okta_on = sso_available(org)
    actor = Actor.of_user(current_user)
    return {
        "user": user,
        "groups": groups_of(user),
        "identities": identities_of(user),
        "is_current": identity_is_current(org),
        "linked": okta_on and user.id in linking.linked_user_ids(org, [user.id]),
        "role_form": RoleForm(role=user.role),
        "status_form": StatusForm(status="inactive" if user.is_active else "active"),
        "link_form": LinkEmailForm(),
        "remove_form": RemoveIdentityForm(),
        "unlock_form": UnlockForm(),
        "invitation_form": InvitationForm(),
        "continue_form": ContinueForm(),
        "may_manage_identities": authority.refusal(actor, "remove_identity", user)
        is None,
        "may_unlock": authority.refusal(actor, "unlock", user) is None,
        "lockout": lockout_state(user),
        "okta_on": okta_on,
        "scim_fields": SCIM_FIELDS,
        "deactivated_via": DEACTIVATED_VIA,
        "method_labels": METHOD_LABELS,
    }


@dataclass(frozen=True)
class Lockout:
    """A member's password sign-in failures now (core.throttle), for the page."""

    failures: int
    limit: int
    minutes: int

    @property
    def locked(self) -> bool:
        """Whether password sign-in is refused for now."""
        return self.failures >= self.limit


def lockout_state(user: User) -> Lockout:
    """How many password failures `user`'s account has within the window (its
    own: never the same email's accounts in other organizations)."""
    config = current_app.config
    return Lockout(
        throttle.recent_failures(throttle.user_key(user.id)),
        config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"],
        int(config["SIGNIN_FAILURE_WINDOW_SECONDS"]) // 60,
    )
