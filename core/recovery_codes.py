"""Owners' recovery codes: the way back in when Okta is required and fails.

Ten single-use codes per owner, each 20 characters of Crockford's base32
(100 random bits) in four groups of five, shown once and kept only as their
SHA-256 (`hash_token`: the codes are random, so a fast hash is enough, and a
code finds its row with one index lookup). Making a new set deletes the old
one. A code (with its owner's email) opens a session of at most four hours at
`/login/backup`; every use is audited and emailed to every active owner, and
wrong codes count against the sign-in throttle like wrong passwords.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import current_app
from flask import render_template

from core import audit
from core import throttle
from core.authority import AccountError
from core.extensions import db
from core.mailer import send_email
from core.models import Organization
from core.models import RecoveryCode
from core.models import User
from core.models import email_fold
from core.models import utcnow
from core.security import hash_token
from core.sessions import start_session
from core.urls import public_base_url

CODE_COUNT = 10
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
GROUPS = 4
GROUP_LENGTH = 5
# A session opened by a recovery code lasts at most this long.
SESSION_SECONDS = 4 * 3600
# What people mistype for Crockford's digits.
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})

ACCEPTED = "accepted"
REFUSED = "refused"
THROTTLED = "throttled"


def new_code() -> str:
    """A fresh code, e.g. "7KQ2M-X9D4T-0BHNV-R3W8P" (100 random bits)."""
    letters = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    return "-".join(
        letters[i : i + GROUP_LENGTH] for i in range(0, len(letters), GROUP_LENGTH)
    )


def normalize(code: str) -> str:
    """The code as stored: capitals, no spaces or dashes, O read as 0, I/L as 1."""
    kept = "".join(ch for ch in code[:100].upper() if ch not in " -\t")
    return kept.translate(_READ_AS)


def generate(owner: User, *, actor: User | str) -> list[str]:
    """Give `owner` ten new codes (the old ones stop working); audit, commit.

    Returns the codes: the only time they exist outside the owner's hands.
    :raise AccountError: when `owner` is not an active owner.
    """
    if owner.role != "owner" or not owner.is_active:
        raise AccountError("Recovery codes are for active owners.")
    voided = db.session.execute(
        db.delete(RecoveryCode).filter_by(user_id=owner.id)
    ).rowcount
    codes = [new_code() for _ in range(CODE_COUNT)]
    db.session.add_all(
        RecoveryCode(
            organization_id=owner.organization_id,
            user_id=owner.id,
            code_hash=hash_token(normalize(code)),
        )
        for code in codes
    )
    audit.record(
        "recovery_codes.generated",
        owner.organization_id,
        actor=actor,
        target=owner.email,
        count=CODE_COUNT,
        voided=voided,
    )
    db.session.commit()
    return codes


def confirm_saved(owner: User) -> bool:
    """The owner says they saved their codes; audit, commit. False when they
    have no unconfirmed codes."""
    confirmed = db.session.execute(
        db.update(RecoveryCode)
        .where(
            RecoveryCode.user_id == owner.id,
            RecoveryCode.confirmed_at.is_(None),
            RecoveryCode.used_at.is_(None),
        )
        .values(confirmed_at=utcnow())
    ).rowcount
    if not confirmed:
        db.session.rollback()
        return False
    audit.record(
        "recovery_codes.confirmed",
        owner.organization_id,
        actor=owner,
        target=owner.email,
    )
    db.session.commit()
    return True


@dataclass(frozen=True)
class CodeStatus:
    """An owner's codes: how many are left, and whether they said they saved them."""

    unused: int
    confirmed: bool


def status(owner: User) -> CodeStatus:
    """How many unused codes `owner` has, and whether the set was confirmed."""
    rows = db.session.execute(
        db.select(RecoveryCode.confirmed_at).where(
            RecoveryCode.user_id == owner.id, RecoveryCode.used_at.is_(None)
        )
    ).all()
    return CodeStatus(len(rows), bool(rows) and all(row[0] for row in rows))


def owners_with_saved_codes(org: Organization) -> int:
    """Active owners of `org` holding unused codes they confirmed saving."""
    return db.session.execute(
        db.select(db.func.count(db.distinct(RecoveryCode.user_id)))
        .join(User, User.id == RecoveryCode.user_id)
        .where(
            RecoveryCode.organization_id == org.id,
            RecoveryCode.used_at.is_(None),
            RecoveryCode.confirmed_at.is_not(None),
            User.role == "owner",
            User.status == "active",
        )
    ).scalar_one()


# -- signing in with a code ---------------------------------------------------------


@dataclass(frozen=True)
class Redeemed:
    """What a recovery code sign-in came to: ACCEPTED (with `user`), REFUSED or
    THROTTLED."""

    outcome: str
    user: User | None = None


def redeem(email: str, code: str, address: str) -> Redeemed:
    """Spend `code` of the owner with `email`; audit, commit.

    Refused alike for an unknown email, a code of someone else (of this or
    another organization), a spent or voided code, and an owner no longer
    active or no longer an owner; each refusal counts against the throttle.
    """
    accounts = throttle.accounts_of(email)
    if throttle.is_throttled(email, address, accounts):
        audit.record_repeated(
            "sign_in.refused",
            None,
            key=f"{email_fold(email)}|{address}",
            actor=email,
            reason="throttled",
            method="backup",
        )
        db.session.commit()
        return Redeemed(THROTTLED)
    row = db.session.execute(
        db.select(RecoveryCode).filter_by(
            code_hash=hash_token(normalize(code)), used_at=None
        )
    ).scalar_one_or_none()
    user = row.user if row is not None else None
    if (
        row is None
        or user is None
        or user.email_key != email_fold(email)
        # Per account: a locked one (maybe another organization's) is refused.
        or user.id in throttle.locked_users(accounts)
        or user.role != "owner"
        or not user.is_active
        or not _spend(row)
    ):
        return _refuse(email, address, user if row is not None else None)
    return Redeemed(ACCEPTED, user)


def _spend(row: RecoveryCode) -> bool:
    """Mark `row` used, unless a concurrent request did (compare-and-set)."""
    spent = db.session.execute(
        db.update(RecoveryCode)
        .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
    ).rowcount
    return spent == 1


def _refuse(email: str, address: str, holder: User | None) -> Redeemed:
    """Count and audit a refused code; commit. The audit row goes to the
    organization of the code's holder when the code exists (its owners should
    know someone holds it with another email), else to none."""
    db.session.rollback()
    throttle.record_failure(email, address)
    audit.record(
        "sign_in.refused",
        holder.organization_id if holder is not None else None,
        actor=email,
        reason="wrong recovery code",
        method="backup",
    )
    db.session.commit()
    return Redeemed(REFUSED)


def start_backup_session(user: User, address: str) -> int:
    """Audit the recovery-code sign-in of `user`, start their 4-hour session
    (which commits), and email every active owner. Returns the codes left."""
    left = status(user).unused
    audit.record(
        "recovery_code.used",
        user.organization_id,
        actor=user,
        target=user.email,
        codes_left=left,
        address=address,
    )
    audit.record("sign_in.succeeded", user.organization_id, actor=user, method="backup")
    start_session(user, "backup", max_age=SESSION_SECONDS)
    _tell_owners(user, left, address)
    return left


def _owners(organization_id: int) -> list[User]:
    return list(
        db.session.execute(
            db.select(User)
            .filter_by(organization_id=organization_id, role="owner", status="active")
            .order_by(User.id)
        ).scalars()
    )


def _tell_owners(user: User, left: int, address: str) -> None:
    """Email every active owner that `user` signed in with a recovery code.

    Failures are logged (and audited), never raised: the sign-in happened.
    """
    org = user.organization
    context = {
        "user": user,
        "org": org,
        "left": left,
        "address": address,
        "when": utcnow().strftime("%Y-%m-%d %H:%M UTC"),
        "settings_url": f"{public_base_url() or ''}/settings/okta/require",
    }
    subject = f"{user.email} signed in to {org.name} with a recovery code"
    text = render_template("email/recovery_code_used.txt", **context)
    html = render_template("email/recovery_code_used.html", **context)
    for owner in _owners(user.organization_id):
        try:
            send_email(owner.email, subject, text, html)
        except (OSError, ValueError) as exc:
            current_app.logger.error(
                "Could not email %s about a recovery code: %s", owner.email, exc
            )
            audit.record(
                "recovery_code.email_failed",
                org,
                actor="gatehouse",
                target=owner.email,
                error=str(exc)[:200],
                commit=True,
            )
