"""Rolling Okta sign-in out safely: test sign-ins, turning on and off, impacts.

Saved settings (`core.sso`) reach members only when an owner turns them on,
and the page turns on only settings that passed a test sign-in: an Okta round
trip for one owner or admin that signs nobody in. Each test's result is kept
per organization and protocol with the settings version it proved, so any
change of those settings makes it stale. Turning on, off, or to the other
protocol shows who is affected first (`turn_on_preview`, `turn_off_impact`).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from urllib.parse import urlsplit

from core import audit
from core import linking
from core import okta_sweep
from core.extensions import db
from core.models import PROTOCOLS
from core.models import OktaIdentity
from core.models import Organization
from core.models import SsoConfig
from core.models import SsoTestResult
from core.models import User
from core.models import utcnow
from core.okta import OktaError
from core.provisioning import organizations
from core.sso import is_live

PROTOCOL_NAMES = {"oidc": "OIDC", "saml": "SAML"}


@dataclass(frozen=True)
class SignInTestStatus:
    """The last test sign-in of one protocol, and whether it proves the saved
    settings (`current`: made with the settings version saved now)."""

    protocol: str
    result: SsoTestResult | None
    current: bool

    @property
    def passed(self) -> bool:
        """The saved settings passed a test sign-in."""
        return bool(self.result and self.result.passed and self.current)

    @property
    def state(self) -> str:
        """ "passed", "failed", "stale" (settings changed since) or "never"."""
        if self.result is None:
            return "never"
        if not self.current:
            return "stale"
        return "passed" if self.result.passed else "failed"


def sign_in_test_status(org: Organization, protocol: str) -> SignInTestStatus:
    """The organization's last test sign-in over `protocol`."""
    result = db.session.execute(
        db.select(SsoTestResult).filter_by(organization_id=org.id, protocol=protocol)
    ).scalar_one_or_none()
    config = org.sso_config
    current = bool(
        result is not None
        and config is not None
        and config.is_saved(protocol)
        and result.settings_version == config.settings_version(protocol)
    )
    return SignInTestStatus(protocol, result, current)


@dataclass(frozen=True)
class Sent:
    """What Okta sent in a test sign-in (empty when it could not be verified)."""

    subject: str = ""
    email: str = ""
    given_name: str = ""
    family_name: str = ""
    name_id_format: str = ""
    attributes: dict[str, list[str]] = field(default_factory=dict)


def store_test_result(
    org: Organization,
    protocol: str,
    *,
    settings_version: int,
    tester: User,
    sent: Sent,
    refusal: str | None,
) -> SsoTestResult:
    """Keep the result of a test sign-in (replacing the previous one); commit.

    `settings_version` is the version of `protocol`'s settings the test ran
    with; `refusal` says why it failed, None when it passed. Audited.
    """
    row = db.session.execute(
        db.select(SsoTestResult).filter_by(organization_id=org.id, protocol=protocol)
    ).scalar_one_or_none()
    if row is None:
        row = SsoTestResult(organization_id=org.id, protocol=protocol)
        db.session.add(row)
    row.settings_version = settings_version
    row.passed = refusal is None
    row.reason = (refusal or "")[:500]
    row.subject = sent.subject[:500]
    row.email = sent.email[:320]
    row.given_name = sent.given_name[:200]
    row.family_name = sent.family_name[:200]
    row.name_id_format = sent.name_id_format[:200]
    # What the page shows, bounded: an IdP may send many and long attributes.
    row.attributes = {
        name[:200]: [value[:500] for value in values[:20]]
        for name, values in list(sent.attributes.items())[:50]
    }
    row.tested_by_user_id = tester.id
    row.tested_by = tester.email
    row.tested_at = utcnow()
    audit.record(
        "settings.okta_tested",
        org,
        actor=tester,
        protocol=protocol,
        passed=row.passed,
        reason=row.reason,
        subject=row.subject,
    )
    db.session.commit()
    return row


# -- turning on ---------------------------------------------------------------


@dataclass(frozen=True)
class TurnOnPreview:
    """Who turning `protocol` on affects, before anything changes.

    `to_email`: active members not linked at that Okta, who would get the link
    email; `switching_from`: the protocol members sign in with now (a switch),
    whose `relink` linked members then need to link again.
    """

    protocol: str
    to_email: list[User]
    switching_from: str | None = None
    relink: int = 0


def turn_on_problem(
    org: Organization, protocol: str, *, require_test: bool = True
) -> str | None:
    """Why `protocol` may not be turned on now, or None.

    The page requires a passing test of exactly the saved settings; the
    command line may go without it (`require_test=False`).
    """
    config = org.sso_config
    name = PROTOCOL_NAMES.get(protocol, protocol)
    if not org.has_paid_plan:
        return "Okta single sign-on needs the Pro or Enterprise plan."
    if protocol not in PROTOCOLS:
        return "Choose OIDC or SAML."
    if config is None or not config.is_saved(protocol):
        return f"Save the {name} settings first."
    if is_live(config, protocol):
        return f"Okta sign-in is already on for everyone ({name})."
    return (
        TEST_PROBLEMS.get(sign_in_test_status(org, protocol).state)
        if require_test
        else None
    )


TEST_PROBLEMS = {
    "never": "Test sign-in with Okta first: the test must pass before turning on.",
    "stale": "The settings changed since the last test sign-in: test again before "
    "turning on.",
    "failed": "The last test sign-in failed: fix the settings and test again before "
    "turning on.",
}


def turn_on_preview(org: Organization, protocol: str) -> TurnOnPreview:
    """Who turning `protocol` on would email, and who would need to link again."""
    config = org.sso_config
    switching = config.protocol if config and config.okta_enabled else None
    return TurnOnPreview(
        protocol,
        linking.unlinked_active_members(org, protocol),
        switching_from=switching if switching != protocol else None,
        relink=linking.members_to_relink(org, protocol) if switching else 0,
    )


def turn_on(
    org: Organization,
    protocol: str,
    *,
    actor: User | str,
    send_links: bool,
    require_test: bool = True,
) -> linking.Invitations | None:
    """Turn Okta sign-in on for everyone with `protocol`'s saved settings; commit.

    The page requires a passing test of exactly these settings; the command
    line (an operator's explicit act) may skip it with `require_test=False`.
    With `send_links`, every active member not linked at that Okta is emailed
    the link; returns what was sent (None when nothing was asked to be sent).
    While Okta sign-in is required (suspended while Okta was off), the
    requirement applies again: the password sessions and unused password
    links of the gap end (`core.okta_sweep.apply_again`).
    :raise OktaError: saying why not (nothing changes then).
    """
    problem = turn_on_problem(org, protocol, require_test=require_test)
    if problem:
        raise OktaError(problem)
    config = organizations.sso_config_for(org)
    previous = config.protocol if config.okta_enabled else None
    _switch_on_unchanged(config, protocol)
    ended = okta_sweep.apply_again(org)  # required: the gap's password sessions
    audit.record(
        "settings.okta_turned_on",
        org,
        actor=actor,
        protocol=protocol,
        previous_protocol=previous or "",
        tested=sign_in_test_status(org, protocol).passed,
        send_links=send_links,
        **({} if ended is None else {"required_sessions_ended": ended}),
    )
    db.session.commit()
    return linking.invite_everyone(org, actor=actor) if send_links else None


def _switch_on_unchanged(config: SsoConfig, protocol: str) -> None:
    """Turn `protocol` on, if the settings are still those just checked.

    A compare-and-set on the versions read: a save that lands between the
    check and this write (another owner, another tab, the CLI) would otherwise
    go live untested. Not committed.
    :raise OktaError: when the settings changed meanwhile (nothing changes).
    """
    settings_version = getattr(SsoConfig, f"{protocol}_version")
    changed = db.session.execute(
        db.update(SsoConfig)
        .where(
            SsoConfig.id == config.id,
            SsoConfig.version == config.version,
            settings_version == config.settings_version(protocol),
        )
        .values(provider="okta", protocol=protocol, version=SsoConfig.version + 1)
    )
    if changed.rowcount != 1:
        db.session.rollback()
        raise OktaError(
            "The Okta settings changed while turning sign-in on. Test them again."
        )
    db.session.expire(config)


# -- turning off, moving ------------------------------------------------------


def turn_off(org: Organization, *, actor: User | str) -> bool:
    """Turn Okta SSO off (back to None). Users, links and settings stay. Commit.

    Returns False when it was already off.
    """
    config = org.sso_config
    if config is None or not config.okta_enabled:
        return False
    config.provider = "none"
    config.version = (config.version or 0) + 1
    audit.record("settings.okta_disconnected", org, actor=actor)
    db.session.commit()
    return True


@dataclass(frozen=True)
class TurnOffImpact:
    """Who turning Okta sign-in off affects.

    `stranded`: active members with no password (made by Okta: just in time or
    by SCIM), who have no way to sign in while it is off; `linked`: members
    linked to Okta, who keep their links for when it is on again;
    `requirement_suspended`: Okta sign-in is required, and the requirement
    lapses while Okta is off (passwords work) until it is on again.
    `after_logout`: members Okta's Universal Logout signed out ("use Okta
    next"), whose password works again while Okta sign-in is off.
    """

    stranded: list[User]
    linked: int
    requirement_suspended: bool = False
    after_logout: int = 0


def turn_off_impact(org: Organization) -> TurnOffImpact:
    """Who turning Okta sign-in off would leave without a way in."""
    stranded = db.session.execute(
        db.select(User)
        .where(
            User.organization_id == org.id,
            User.status == "active",
            User.password_hash.is_(None),
        )
        .order_by(User.id)
    ).scalars()
    after_logout = db.session.execute(
        db.select(db.func.count(User.id)).where(
            User.organization_id == org.id,
            User.status == "active",
            User.okta_required_after_logout.is_(True),
            User.password_hash.is_not(None),
        )
    ).scalar_one()
    return TurnOffImpact(
        list(stranded),
        linking.count_linked(org),
        okta_sweep.requirement_set(org),
        after_logout,
    )


@dataclass(frozen=True)
class MoveImpact:
    """Saving live settings that point at another Okta: every current link
    (`relink` members) stops counting; `to_email` would get the link."""

    protocol: str
    new_issuer: str
    relink: int
    to_email: list[User]


def move_impact(org: Organization, protocol: str, new_issuer: str) -> MoveImpact:
    """Who moving live `protocol` sign-in to `new_issuer` affects."""
    linked_there = db.select(OktaIdentity.user_id).where(
        OktaIdentity.organization_id == org.id,
        OktaIdentity.protocol == protocol,
        OktaIdentity.issuer == new_issuer,
    )
    members = db.session.execute(
        db.select(User)
        .where(
            User.organization_id == org.id,
            User.status == "active",
            User.id.not_in(linked_there),
        )
        .order_by(User.id)
    ).scalars()
    return MoveImpact(protocol, new_issuer, linking.count_linked(org), list(members))


def okta_origin(config: SsoConfig | None, protocol: str) -> str | None:
    """The origin of the organization's Okta for `protocol` (for CSP form-action)."""
    if config is None:
        return None
    where = config.saml_sso_url if protocol == "saml" else config.oidc_issuer
    parts = urlsplit(where or "")
    if parts.scheme in ("https", "http") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None
