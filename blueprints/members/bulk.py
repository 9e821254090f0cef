"""Email the Okta link to every active member not linked (the members list's
bulk action), bounded per click and throttled like the single resend.

A service of the members pages: each email is `core.linking.send_link_email`
(which commits each link it makes); the summary audit event commits last.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core import audit
from core import authority
from core import linking
from core.authority import Actor
from core.extensions import db
from core.models import LinkToken
from core.models import OktaIdentity
from core.models import Organization
from core.models import User
from core.models import utcnow

# At most this many emails per click: the request stays short, and a mistake
# reaches a bounded number of inboxes. The next click sends the next ones.
BULK_LINK_LIMIT = 100


@dataclass(frozen=True)
class BulkLinks:
    """What one click of "Email the link to everyone not linked" did."""

    invitations: linking.Invitations
    recent: int  # skipped: emailed a link within linking.RESEND_INTERVAL
    remaining: int  # still to email after this click (over BULK_LINK_LIMIT)


def _unlinked_active(org: Organization):  # type: ignore[no-untyped-def]
    """Active members of `org` without an identity at its current Okta."""
    query = db.select(User).where(
        User.organization_id == org.id, User.status == "active"
    )
    config = org.sso_config
    if config is not None:
        linked = db.select(OktaIdentity.user_id).where(linking.current_identity(config))
        query = query.where(User.id.not_in(linked))
    return query


def _recently_emailed():  # type: ignore[no-untyped-def]
    """Ids of members given a link within the resend interval (`recently_sent`)."""
    since = utcnow() - linking.RESEND_INTERVAL
    return db.select(LinkToken.user_id).where(LinkToken.created_at > since)


def _count(query) -> int:  # type: ignore[no-untyped-def]
    """How many rows `query` gives."""
    return db.session.execute(
        db.select(db.func.count()).select_from(query.order_by(None).subquery())
    ).scalar_one()


class AlreadySending(Exception):
    """Another click of the organization's bulk link email is still sending."""


def _claim(org: Organization) -> datetime:
    """Claim the organization's bulk link email, by compare-and-set; commit.
    Returns the claim's time (what `_release` compares with).

    Of two clicks at once (a double click), the second waits for the first's
    row lock, then finds the claim taken: without this both would read the
    same members as not yet emailed and mail each of them twice.
    :raise AlreadySending: when another click holds a claim that is not stale.
    """
    now = utcnow()
    stale = now - linking.RESEND_INTERVAL
    claimed = db.session.execute(
        db.update(Organization)
        .where(
            Organization.id == org.id,
            (Organization.link_emails_claimed_at.is_(None))
            | (Organization.link_emails_claimed_at < stale),
        )
        .values(link_emails_claimed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if claimed != 1:
        raise AlreadySending
    return now


def _release(org: Organization, claimed_at: datetime) -> None:
    """End our claim (commit): the next click may send to whoever remains.

    Only if it is still ours (compare-and-set): a click so slow that its claim
    went stale and another took it over must not end the other's claim.
    """
    db.session.execute(
        db.update(Organization)
        .where(
            Organization.id == org.id,
            Organization.link_emails_claimed_at == claimed_at,
        )
        .values(link_emails_claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def email_unlinked(org: Organization, *, actor: User) -> BulkLinks:
    """Email the link to up to BULK_LINK_LIMIT active unlinked members who were
    not emailed one within the resend interval; audit the click; commit.

    A second click right away finds everyone just emailed "recent" and sends
    nothing to them; one at the same moment finds the claim taken
    (AlreadySending). Deactivated members never get one.
    """
    claimed_at = _claim(org)
    try:
        result = _email_unlinked(org, actor)
    except Exception:
        db.session.rollback()
        _release(org, claimed_at)
        raise
    _release(org, claimed_at)
    return result


def _email_unlinked(org: Organization, actor: User) -> BulkLinks:
    """The work of `email_unlinked`, under its claim."""
    candidates = _unlinked_active(org)
    fresh = candidates.where(User.id.not_in(_recently_emailed()))
    recent = _count(candidates) - _count(fresh)
    chosen = list(
        db.session.execute(fresh.order_by(User.id).limit(BULK_LINK_LIMIT + 1)).scalars()
    )
    remaining = 0
    if len(chosen) > BULK_LINK_LIMIT:
        remaining = _count(fresh) - BULK_LINK_LIMIT
        chosen = chosen[:BULK_LINK_LIMIT]
    counts = dict.fromkeys(
        (linking.SENT, linking.FAILED, linking.NO_PUBLIC_URL, linking.OUTBOX), 0
    )
    who = Actor.of_user(actor)
    for user in chosen:
        if authority.refusal(who, "send_link", user) is None:
            counts[linking.send_link_email(user, actor=actor)] += 1
    invitations = linking.Invitations(
        counts[linking.SENT],
        counts[linking.FAILED],
        counts[linking.NO_PUBLIC_URL],
        counts[linking.OUTBOX],
    )
    audit.record(
        "members.link_emails_sent",
        org,
        actor=actor,
        sent=invitations.sent,
        outbox=invitations.outbox,
        failed=invitations.failed,
        not_sent=invitations.not_sent,
        skipped_recent=recent,
        remaining=remaining,
    )
    db.session.commit()
    return BulkLinks(invitations, recent, remaining)


def summary(result: BulkLinks) -> tuple[str, str]:
    """The flash (message, category) for a click's result."""
    done = result.invitations
    minutes = int(linking.RESEND_INTERVAL.total_seconds() // 60)
    if not done.total:
        if result.recent:
            return (
                f"Nobody was emailed: the {result.recent} active member(s) not "
                f"linked were all emailed a link in the last {minutes} minutes.",
                "info",
            )
        return "Nobody was emailed: every active member is linked to Okta.", "info"
    parts = [done.summary()]
    if result.recent:
        parts.append(
            f"{result.recent} member(s) emailed a link in the last {minutes} "
            "minutes were skipped."
        )
    if result.remaining:
        parts.append(
            f"{result.remaining} more member(s) are not linked: click again to "
            f"email the next {BULK_LINK_LIMIT}."
        )
    category = "error" if done.failed or done.not_sent else "success"
    if done.outbox and not done.sent:
        category = "info"
    return " ".join(parts), category
