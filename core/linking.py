"""Links between members and Okta: the emailed link tokens and who is linked.

Shared by the Okta sign-in (blueprints/okta), the members and settings pages and
the Okta settings service (`core.sso`): issuing, finding and emailing single-use
link tokens, and which members have an identity at the organization's Okta.
Which account a sign-in lands in is decided in `blueprints/okta/rules.py`.

"Linked" anywhere in the UI means an identity at the organization's *current*
Okta (protocol and issuer): after a switch of protocol the old identities no
longer count, and those members are emailed a new link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask import render_template

from core import audit
from core import tokens
from core.extensions import db
from core.mailer import checked_message
from core.mailer import send_message
from core.models import LinkToken
from core.models import OktaIdentity
from core.models import Organization
from core.models import SsoConfig
from core.models import User
from core.models import utcnow
from core.urls import public_base_url

LINK_TOKEN_DAYS = 7
RESEND_INTERVAL = timedelta(minutes=2)


# -- emailed link invitations ---------------------------------------------------


def issue_link_token(user: User) -> str:
    """A new single-use link token for `user` (not committed); returns the secret."""
    return _new_link_token(user)[1]


def _new_link_token(user: User) -> tuple[LinkToken, str]:
    """A new link token row for `user` (not committed) and its secret."""
    return tokens.issue(LinkToken, user, timedelta(days=LINK_TOKEN_DAYS))


def find_link_token(token: str) -> LinkToken | None:
    """The unused, unexpired link token for this secret, or None."""
    return tokens.find_live(LinkToken, token)


def find_link_token_by_hash(token_hash: str) -> LinkToken | None:
    """The unused, unexpired link token with this hash, or None."""
    return tokens.find_live_by_hash(LinkToken, token_hash)


def recently_sent(user: User) -> bool:
    """Whether a link email was tried for `user` within the resend interval."""
    last = tokens.last_issued(LinkToken, user)
    return last is not None and utcnow() - last < RESEND_INTERVAL


def last_delivered_link(user: User) -> LinkToken | None:
    """The newest live link that the mail server accepted for `user`, or None.

    What a page may claim: "we emailed you a link" only when this exists.
    """
    return db.session.execute(
        db.select(LinkToken)
        .where(
            LinkToken.user_id == user.id,
            LinkToken.used_at.is_(None),
            LinkToken.sent_at.is_not(None),
            LinkToken.expires_at > utcnow(),
        )
        .order_by(LinkToken.id.desc())
        .limit(1)
    ).scalar_one_or_none()


SENT = "sent"
OUTBOX = "outbox"
FAILED = "failed"
NO_PUBLIC_URL = "no_public_url"


def send_link_email(user: User, *, actor: User | str) -> str:
    """Email `user` a fresh link to confirm and link their Okta account; commit.

    Returns SENT (the mail server took it), OUTBOX (no mail server is set up:
    the message was written to instance/outbox/, not emailed), FAILED (the
    mail server refused or was unreachable) or NO_PUBLIC_URL (nothing was made
    or sent: a link needs the configured public address, never the request's).
    Only SENT marks the link as emailed.
    """
    base = public_base_url()
    if not base:
        return NO_PUBLIC_URL
    row, token = _new_link_token(user)
    org = user.organization
    context = {
        "user": user,
        "org": org,
        "url": f"{base}/okta/link/{token}",
        "days": LINK_TOKEN_DAYS,
    }
    try:
        message = checked_message(
            user.email,
            f"Confirm and link your Okta account to {org.name}",
            render_template("email/link_okta_account.txt", **context),
            render_template("email/link_okta_account.html", **context),
        )
    except ValueError as exc:
        db.session.rollback()  # no link is left behind for a mail never sent
        return _failed(user, actor, exc)
    db.session.commit()
    try:
        send_message(message)
    except OSError as exc:
        db.session.delete(row)
        return _failed(user, actor, exc)
    if not current_app.config["SMTP_HOST"]:
        audit.record(
            "okta.link_email_sent", org, actor=actor, target=user.email, to="outbox"
        )
        db.session.commit()
        return OUTBOX
    row.sent_at = utcnow()
    audit.record("okta.link_email_sent", org, actor=actor, target=user.email)
    db.session.commit()
    return SENT


def _failed(user: User, actor: User | str, error: Exception) -> str:
    """Log and audit a link email that could not be sent; commit; FAILED."""
    current_app.logger.error(
        "Could not send the Okta link email to %s: %s", user.email, error
    )
    audit.record(
        "okta.link_email_failed",
        user.organization_id,
        actor=actor,
        target=user.email,
        error=str(error)[:200],
    )
    db.session.commit()
    return FAILED


def current_issuer(config: SsoConfig, protocol: str | None = None) -> str | None:
    """The issuer of identities made under the organization's current settings
    (or under its saved settings of `protocol`)."""
    protocol = protocol or config.protocol
    return config.oidc_issuer if protocol == "oidc" else config.saml_entity_id


def current_identity(config: SsoConfig, protocol: str | None = None):  # type: ignore[no-untyped-def]
    """A where-clause: identities at the organization's current Okta (or at its
    saved Okta of `protocol`)."""
    protocol = protocol or config.protocol
    return (
        (OktaIdentity.organization_id == config.organization_id)
        & (OktaIdentity.protocol == protocol)
        & (OktaIdentity.issuer == (current_issuer(config, protocol) or ""))
    )


def linked_user_ids(org: Organization, user_ids: list[int]) -> set[int]:
    """Which of these users have an identity at the organization's current Okta."""
    config = org.sso_config
    if config is None or not user_ids:
        return set()
    return set(
        db.session.execute(
            db.select(OktaIdentity.user_id).where(
                current_identity(config), OktaIdentity.user_id.in_(user_ids)
            )
        ).scalars()
    )


def count_linked(org: Organization) -> int:
    """Members with an identity at the organization's current Okta."""
    config = org.sso_config
    if config is None:
        return 0
    return db.session.execute(
        db.select(db.func.count(db.distinct(OktaIdentity.user_id))).where(
            current_identity(config)
        )
    ).scalar_one()


def unlinked_active_members(
    org: Organization, protocol: str | None = None
) -> list[User]:
    """Active members of `org` without an identity at its current Okta (or at
    its saved Okta of `protocol`: who turning that on would email)."""
    config = org.sso_config
    query = db.select(User).where(
        User.organization_id == org.id, User.status == "active"
    )
    if config is not None:
        linked = db.select(OktaIdentity.user_id).where(
            current_identity(config, protocol)
        )
        query = query.where(User.id.not_in(linked))
    return list(db.session.execute(query.order_by(User.id)).scalars())


def members_to_relink(org: Organization, protocol: str) -> int:
    """Active members who would have no identity if the organization used `protocol`.

    Shown before a switch of protocol: each of them will need the emailed link
    (or, if Okta made their account, simply signs in again).
    """
    has_one = db.select(OktaIdentity.user_id).where(
        OktaIdentity.organization_id == org.id, OktaIdentity.protocol == protocol
    )
    linked_now = db.select(OktaIdentity.user_id).where(
        OktaIdentity.organization_id == org.id, OktaIdentity.protocol != protocol
    )
    return db.session.execute(
        db.select(db.func.count())
        .select_from(User)
        .where(
            User.organization_id == org.id,
            User.status == "active",
            User.id.in_(linked_now),
            User.id.not_in(has_one),
        )
    ).scalar_one()


@dataclass(frozen=True)
class Invitations:
    """What happened when everyone unlinked was emailed the link."""

    sent: int = 0
    failed: int = 0
    not_sent: int = 0  # no public address configured: nothing was emailed
    outbox: int = 0  # no mail server: written to instance/outbox/

    @property
    def total(self) -> int:
        """Members who should have had the email."""
        return self.sent + self.failed + self.not_sent + self.outbox

    def summary(self) -> str:
        """One honest sentence for the page or the command line."""
        parts = []
        if self.sent:
            parts.append(
                f"{self.sent} member(s) were emailed a link to confirm and link "
                "their Okta account."
            )
        if self.outbox:
            parts.append(
                f"No mail server is configured: the link emails for {self.outbox} "
                "member(s) were written to the server's outbox (instance/outbox/), "
                "not sent."
            )
        if self.failed:
            parts.append(
                f"The email to {self.failed} member(s) could not be sent (see the "
                "server log); send it again from their member page."
            )
        if self.not_sent:
            parts.append(
                f"{self.not_sent} member(s) need a link, but nothing was emailed: "
                "Gatehouse's public address is not configured."
            )
        return " ".join(parts)


def invite_everyone(org: Organization, *, actor: User | str) -> Invitations:
    """Email the link to every active member not linked at the current Okta."""
    counts = {SENT: 0, FAILED: 0, NO_PUBLIC_URL: 0, OUTBOX: 0}
    for user in unlinked_active_members(org):
        counts[send_link_email(user, actor=actor)] += 1
    return Invitations(
        counts[SENT], counts[FAILED], counts[NO_PUBLIC_URL], counts[OUTBOX]
    )
