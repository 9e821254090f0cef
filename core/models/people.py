"""People: accounts, their browser sessions, their Okta identities, and the emailed
links that link them to Okta or let them choose a password."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any

from flask_login import UserMixin
from sqlalchemy import DDL
from sqlalchemy import Boolean
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import event
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import declared_attr
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from core.extensions import db
from core.models import search
from core.models.values import UTCDateTime
from core.models.values import Versioned
from core.models.values import fold
from core.models.values import utcnow

if TYPE_CHECKING:
    from core.models.organizations import Organization


ROLES = ("owner", "admin", "member")
STATUSES = ("active", "inactive")
SOURCES = ("local", "sso", "scim")


def _search_text_default(context: Any) -> str:
    """`search_text` of a row inserted without one (a bulk `insert(User)`)."""
    row = context.get_current_parameters()
    return search.search_text(row.get("email_key") or "", row.get("name_key") or "")


class User(UserMixin, Versioned, db.Model):
    """A person's account in one organization.

    The same email may have accounts in several organizations; they are separate
    rows that share nothing.
    """

    __tablename__ = "user"
    __table_args__ = (
        UniqueConstraint("organization_id", "email_key", name="uq_user_org_email"),
        UniqueConstraint(
            "organization_id", "user_name_key", name="uq_user_org_user_name"
        ),
        Index("ix_user_org_external_id", "organization_id", "external_id"),
        Index("ix_user_org_name_key", "organization_id", "name_key"),
        Index("ix_user_org_status", "organization_id", "status"),
        Index("ix_user_email_key", "email_key"),
        # The members search on PostgreSQL (SQLite has its FTS5 table instead).
        Index(
            search.TRIGRAM_INDEX,
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320))
    # SCIM userName: Okta's unique identifier for the account, usually the email.
    # Set to the email for accounts made here, so SCIM can find and adopt them.
    user_name: Mapped[str] = mapped_column(String(320))
    user_name_key: Mapped[str] = mapped_column(String(320))
    given_name: Mapped[str] = mapped_column(String(200), default="")
    family_name: Mapped[str] = mapped_column(String(200), default="")
    display_name: Mapped[str] = mapped_column(String(400), default="")
    # Lower-cased "display given family" for the members search.
    name_key: Mapped[str] = mapped_column(String(800), default="")
    # What the members search reads: email and names folded, without accents
    # (core.models.search). Written with every insert and update of the row
    # (the events below, the default for a bulk insert); a bulk UPDATE of
    # email_key or name_key, which skips the events, must set it too.
    search_text: Mapped[str] = mapped_column(
        Text, default=_search_text_default, server_default=text("''")
    )
    role: Mapped[str] = mapped_column(String(20), default="member")
    status: Mapped[str] = mapped_column(String(20), default="active")
    source: Mapped[str] = mapped_column(String(20), default="local")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # True while the email is the one Okta set (SCIM or an Okta sign-in), not one
    # typed in Gatehouse: one condition for linking an Okta sign-in on email alone.
    email_from_okta: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=db.false()
    )
    # SCIM `emails[].primary` of the one address kept, as the IdP sent it; None
    # when it said nothing (the kept address is then the primary one).
    email_primary: Mapped[bool | None] = mapped_column(Boolean)
    # SCIM: set once Okta manages this account (created or adopted by SCIM).
    scim_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    external_id: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How that sign-in went: "password", "okta-oidc", "okta-saml", "setup" (the
    # owner who created the organization) or "backup" (a recovery code).
    last_sign_in_method: Mapped[str | None] = mapped_column(String(20))
    # Set by Okta Universal Logout: the next sign-in must go through Okta (a
    # password is refused until then); an Okta sign-in clears it.
    okta_required_after_logout: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=db.false()
    )
    # Who made the account inactive and when, cleared on reactivation: the
    # actor's label (an admin's email, "api key gh_ab…" for Okta over SCIM,
    # "cli") and the way ("page", "scim", "cli"). NULL for members deactivated
    # before migration 0015. Kept on the row: audit events are pruned.
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deactivated_by: Mapped[str | None] = mapped_column(String(400))
    deactivated_via: Mapped[str | None] = mapped_column(String(10))

    organization: Mapped[Organization] = relationship()

    # Flask-Login: the id stored in the browser session is the session token,
    # set by core.sessions when the session is created or loaded.
    session_token = None  # type: str | None

    def get_id(self) -> str | None:
        """Return the token of the browser session this user object was loaded for."""
        return self.session_token

    # Flask-Login's UserMixin compares users by get_id(), which here is the
    # session token: None for every user not loaded for a browser, so any two
    # members would be "equal" (`user in owners` true for a stranger). A user
    # is equal to itself only; compare `.id` to compare rows.
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    @property
    def is_active(self) -> bool:
        """Inactive users keep their data but cannot sign in by any means."""
        return self.status == "active"

    @property
    def is_admin(self) -> bool:
        """Owners and admins manage the organization."""
        return self.role in ("owner", "admin")

    @property
    def full_name(self) -> str:
        """The name to show: display name, else given + family, else the email."""
        if self.display_name:
            return self.display_name
        joined = f"{self.given_name} {self.family_name}".strip()
        return joined or self.email

    def refresh_name_key(self) -> None:
        """Recompute the search key after a name changes."""
        self.name_key = fold(
            f"{self.display_name} {self.given_name} {self.family_name}"
        )


@event.listens_for(User, "before_insert")
@event.listens_for(User, "before_update")
def _keep_search_text(_mapper: Any, _connection: Any, user: User) -> None:
    """Every write of a user through the ORM stores its search text."""
    user.search_text = search.search_text(user.email_key or "", user.name_key or "")


for _statement in search.sqlite_ddl():
    event.listen(User.__table__, "after_create", _statement)
event.listen(
    User.__table__,
    "before_create",
    DDL(search.POSTGRES_EXTENSION).execute_if(dialect="postgresql"),
)
event.listen(
    User.__table__,
    "before_drop",
    DDL(search.SQLITE_DROP).execute_if(dialect="sqlite"),
)


class UserSession(db.Model):
    """A signed-in browser session, so that it can be ended from the server.

    The browser holds only the token; the table holds its SHA-256. Deactivating a
    user revokes every row of theirs, so reactivation cannot revive an old cookie.
    """

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    # How the session was started: the same words as `User.last_sign_in_method`
    # (NULL for sessions older than migration 0012).
    method: Mapped[str | None] = mapped_column(String(20))
    # The Okta that vouched for an "okta-*" session: its OIDC issuer or SAML
    # entity ID (NULL for other sessions, and Okta ones before migration 0016).
    okta_issuer: Mapped[str | None] = mapped_column(String(1000))

    user: Mapped[User] = relationship()


class OktaIdentity(db.Model):
    """The link between a user and an Okta subject for one protocol.

    Keyed on (organization, protocol, issuer, subject) so one organization's Okta
    can never vouch for an account of another.
    """

    __tablename__ = "okta_identity"
    __table_args__ = (
        UniqueConstraint(
            "organization_id",
            "protocol",
            "issuer",
            "subject",
            name="uq_okta_identity_subject",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    protocol: Mapped[str] = mapped_column(String(10))
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EmailedToken:
    """What every emailed single-use link keeps: the SHA-256 of its secret, whose
    account it opens, when it expires and when it was used (see core.tokens).

    The secret itself is only in the email; a copy of the database opens nothing.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the mail server accepted the email carrying it; None if sending failed.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @declared_attr
    def user(cls) -> Mapped[User]:  # noqa: N805 (SQLAlchemy's declared_attr)
        return relationship(User)


class LinkToken(EmailedToken, db.Model):
    """A single-use, expiring invitation to link a user's account to Okta.

    Emailed when Okta SSO is set up (and on request).
    """

    __tablename__ = "link_token"


PASSWORD_TOKEN_PURPOSES = ("reset", "invitation")


class PasswordToken(EmailedToken, db.Model):
    """A single-use, expiring link to choose a password: a reset ("Forgot your
    password?", an hour) or an invitation (a member added by an admin, days).

    A table apart from LinkToken, not a `purpose` on it: every reader of link
    tokens (the link page, the OIDC callback, the SAML ACS) would otherwise
    have to remember to exclude password links, and one that forgot would let
    a password email bind an Okta account. Here, each kind of link can only be
    found where it is spent.
    """

    __tablename__ = "password_token"

    purpose: Mapped[str] = mapped_column(String(20))


class PasswordResetMail(db.Model):
    """When an account was last sent a reset email: the claim that keeps
    "Forgot your password?" to one email per account per interval.

    One row per account, written by compare-and-set (INSERT ... ON CONFLICT DO
    UPDATE ... WHERE the last one is old enough), so of two requests racing for
    one inbox only one sends, whichever worker or address they come from.
    """

    __tablename__ = "password_reset_mail"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
