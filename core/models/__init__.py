"""Every table of Gatehouse, as SQLAlchemy 2.0 typed models, split by subject.

`from core.models import User` is the way in: this module names every table and
helper the rest of the code uses, and importing it registers every table with
the metadata (the app, Alembic and the tests all rely on that).

Every row that belongs to an organization carries `organization_id`, and every
query made on behalf of a request filters on it: that column is the tenant wall.
"""

from core.models.activity import AuditEvent
from core.models.activity import ScimRequest
from core.models.groups import Group
from core.models.groups import GroupMember
from core.models.keys import ApiKey
from core.models.keys import ApiKeyReveal
from core.models.organizations import PAID_PLANS
from core.models.organizations import PLANS
from core.models.organizations import PROTOCOLS
from core.models.organizations import Organization
from core.models.organizations import SiteSetting
from core.models.organizations import SsoConfig
from core.models.organizations import SsoTestResult
from core.models.people import PASSWORD_TOKEN_PURPOSES
from core.models.people import ROLES
from core.models.people import SOURCES
from core.models.people import STATUSES
from core.models.people import EmailedToken
from core.models.people import LinkToken
from core.models.people import OktaIdentity
from core.models.people import PasswordResetMail
from core.models.people import PasswordToken
from core.models.people import User
from core.models.people import UserSession
from core.models.require_okta import OktaExemption
from core.models.require_okta import OktaRequirement
from core.models.require_okta import RecoveryCode
from core.models.signin import SamlAssertionSeen
from core.models.signin import SamlRequest
from core.models.signin import SignInFailure
from core.models.universal_logout import UniversalLogoutAttempt
from core.models.universal_logout import UniversalLogoutConfig
from core.models.universal_logout import UniversalLogoutJti
from core.models.universal_logout import UniversalLogoutUnverified
from core.models.values import UTCDateTime
from core.models.values import email_fold
from core.models.values import fold
from core.models.values import parse_row_id
from core.models.values import unsafe_characters
from core.models.values import utcnow

__all__ = [
    "PAID_PLANS",
    "PASSWORD_TOKEN_PURPOSES",
    "PLANS",
    "PROTOCOLS",
    "ROLES",
    "SOURCES",
    "STATUSES",
    "ApiKey",
    "ApiKeyReveal",
    "AuditEvent",
    "EmailedToken",
    "Group",
    "GroupMember",
    "LinkToken",
    "OktaExemption",
    "OktaIdentity",
    "OktaRequirement",
    "Organization",
    "PasswordResetMail",
    "PasswordToken",
    "RecoveryCode",
    "SamlAssertionSeen",
    "SamlRequest",
    "ScimRequest",
    "SignInFailure",
    "SiteSetting",
    "SsoConfig",
    "SsoTestResult",
    "UTCDateTime",
    "UniversalLogoutAttempt",
    "UniversalLogoutConfig",
    "UniversalLogoutJti",
    "UniversalLogoutUnverified",
    "User",
    "UserSession",
    "email_fold",
    "fold",
    "parse_row_id",
    "unsafe_characters",
    "utcnow",
]
