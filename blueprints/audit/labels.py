"""What the logs call things: audit kinds, fields and values in words.

Data only (plus two look-ups with their fallbacks). Every kind the code records
needs a label here: `tests/test_audit_page.py` scans core/ and blueprints/ for
`audit.record*("kind", ...)` and fails, naming the kind, when one is missing.
"""

from __future__ import annotations

from core.health import UNAUTHORIZED_REASONS

# kind -> the label a person reads in the Event column and the kind filter.
KIND_LABELS: dict[str, str] = {
    # Signing in and out
    "sign_in.succeeded": "Signed in",
    "sign_in.refused": "Sign-in refused",
    "sign_out": "Signed out",
    # Passwords
    "password.changed": "Password changed",
    "password.change_refused": "Password change refused",
    "password.reset_requested": "Password reset requested",
    "password.reset_refused": "Password reset refused",
    "password.reset_email_sent": "Password reset email sent",
    "password.reset_email_failed": "Password reset email failed",
    "password.reset": "Password reset",
    "password.invitation_sent": "Invitation sent",
    "password.invitation_failed": "Invitation email failed",
    "password.invitation_accepted": "Invitation accepted",
    # Members
    "members.link_emails_sent": "Okta link emailed to unlinked members",
    "member.added": "Member added",
    "member.role_changed": "Role changed",
    "member.deactivated": "Member deactivated",
    "member.reactivated": "Member reactivated",
    "member.unlocked": "Member unlocked",
    # Okta links and identities
    "okta.link_email_sent": "Okta link email sent",
    "okta.link_email_failed": "Okta link email failed",
    "okta.identity_removed": "Okta identity unlinked",
    # Organization and settings
    "organization.created": "Organization created",
    "organization.renamed": "Organization renamed",
    "organization.plan_changed": "Plan changed",
    "settings.scim_sync": "SCIM sync switched",
    "settings.okta_configured": "Okta settings saved",
    "settings.okta_metadata_refreshed": "Okta SAML metadata refreshed",
    "settings.okta_dashboard_sign_in": "Okta dashboard sign-in switched",
    "settings.okta_saml_app_released": "Okta SAML app released",
    "settings.okta_tested": "Okta test sign-in",
    "settings.okta_turned_on": "Okta sign-in turned on",
    "settings.okta_disconnected": "Okta sign-in turned off",
    "settings.okta_required": "Okta sign-in required",
    "settings.okta_not_required": "Okta sign-in no longer required",
    "settings.okta_exemptions_changed": "Accounts exempt from Okta changed",
    "recovery_codes.generated": "Recovery codes made",
    "recovery_codes.confirmed": "Recovery codes saved",
    "recovery_code.used": "Signed in with a recovery code",
    "recovery_code.email_failed": "Recovery code email not sent",
    "universal_logout.accepted": "Signed out by Okta (Universal Logout)",
    "universal_logout.refused": "Universal Logout refused",
    "universal_logout.settings_changed": "Universal Logout settings changed",
    # API keys
    "api_key.created": "API key created",
    "api_key.revoked": "API key revoked",
    # SCIM (blueprints/scim/activity.py: scim.<user|group>.<verb>)
    "scim.user.created": "User created by SCIM",
    "scim.unauthorized": "SCIM request refused: key (401)",
    "scim.user.adopted": "User adopted by SCIM",
    "scim.user.updated": "User updated by SCIM",
    "scim.user.deactivated": "User deactivated by SCIM",
    "scim.user.reactivated": "User reactivated by SCIM",
    "scim.user.deleted": "User deleted by SCIM",
    "scim.group.created": "Group created by SCIM",
    "scim.group.adopted": "Group adopted by SCIM",
    "scim.group.updated": "Group updated by SCIM",
    "scim.group.deleted": "Group deleted by SCIM",
}

# Kinds whose rows are refusals or failures (the Status badge); every other kind
# is a success, except a test sign-in, whose `passed` detail decides. A recorded
# kind named *refused, *failed or *unauthorized must be in one of them
# (tests/test_audit_labels.py).
REFUSED_KINDS = frozenset(
    {
        "sign_in.refused",
        "password.change_refused",
        "password.reset_refused",
        "scim.unauthorized",
        "universal_logout.refused",
    }
)
FAILED_KINDS = frozenset(
    {
        "password.reset_email_failed",
        "password.invitation_failed",
        "okta.link_email_failed",
        "recovery_code.email_failed",
    }
)

# detail or change field -> words. SCIM changes use SCIM's attribute names.
FIELD_WORDS: dict[str, str] = {
    "userName": "Username",
    "user_name": "Username",
    "emails": "Email",
    "email": "Email",
    "email_primary": "Primary email",
    "name.givenName": "First name",
    "given_name": "First name",
    "name.familyName": "Last name",
    "family_name": "Last name",
    "displayName": "Display name",
    "display_name": "Display name",
    "externalId": "Okta ID",
    "external_id": "Okta ID",
    "active": "Active",
    "role": "Role",
    "plan": "Plan",
    "reason": "Reason",
    "method": "How",
    "outcome": "Result",
    "subject": "Okta subject",
    "protocol": "Protocol",
    "previous_protocol": "Before",
    "default_role": "Default role for new members",
    "live": "In use for sign-in",
    "tested": "Tested",
    "send_links": "Link emails sent",
    "passed": "Passed",
    "entity_id": "SAML entity ID",
    "sso_url": "SAML sign-in URL",
    "certificates": "Certificates",
    "certificates_changed": "Certificates changed",
    "enabled": "On",
    "issuer": "Issuer",
    "key_kind": "Key",
    "scopes": "Scopes",
    "acts_as": "Acts as",
    "to": "Delivered to",
    "error": "Error",
    "sessions_ended": "Sessions ended",
    "other_sessions_ended": "Other sessions ended",
    "failures_cleared": "Failed attempts cleared",
    "result": "Result",
    "requested_from": "Requested from",
    "failure": "Failure",
    "reference": "Reference",
}

# Values that read better in words (sign-in methods, outcomes, reasons, roles).
VALUE_WORDS: dict[str, str] = {
    "password": "password",
    "okta-oidc": "Okta (OIDC)",
    "okta-saml": "Okta (SAML)",
    "oidc": "OIDC",
    "saml": "SAML",
    "setup": "first-run setup",
    "backup": "recovery code",
    "signed_in": "signed in",
    "linked": "linked to Okta",
    "created": "new account (just in time)",
    "needs_confirmation": "needs to confirm the link first",
    "inactive": "deactivated member",
    "throttled": "too many attempts",
    "okta only": "signs in with Okta only",
    "outbox": "the outbox (no mail server)",
    "link": "link emailed",
    # Why a SCIM request was refused for its key (scim.unauthorized `reason`).
    **UNAUTHORIZED_REASONS,
}

# SCIM `scimType` -> words (the raw type is kept in brackets: Okta shows it too).
SCIM_TYPE_WORDS: dict[str, str] = {
    "uniqueness": "already exists",
    "invalidFilter": "filter not understood",
    "invalidSyntax": "request not understood",
    "invalidValue": "value not accepted",
    "invalidPath": "path not understood",
    "noTarget": "nothing matches the path",
    "mutability": "attribute cannot change",
    "tooMany": "too many results",
    "invalidVers": "version does not match",
}

# HTTP statuses of SCIM answers, in words.
HTTP_WORDS: dict[int, str] = {
    200: "OK",
    201: "Created",
    204: "No content",
    304: "Not modified",
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict",
    412: "Version mismatch",
    413: "Too large",
    415: "Wrong content type",
    429: "Too many requests",
    500: "Server error",
    501: "Not implemented",
    503: "Unavailable",
}

# SCIM request (method, resource) -> what it asks, in words.
REQUEST_WORDS: dict[tuple[str, str], str] = {
    ("GET", "User"): "Read users",
    ("POST", "User"): "Create user",
    ("PUT", "User"): "Replace user",
    ("PATCH", "User"): "Update user",
    ("DELETE", "User"): "Delete user",
    ("GET", "Group"): "Read groups",
    ("POST", "Group"): "Create group",
    ("PUT", "Group"): "Replace group",
    ("PATCH", "Group"): "Update group",
    ("DELETE", "Group"): "Delete group",
}


def kind_label(kind: str) -> str:
    """The label of `kind`; for a kind nobody labelled, its name in words.

    "universal_logout.accepted" reads "Universal logout accepted".
    """
    label = KIND_LABELS.get(kind)
    if label is not None:
        return label
    words = " ".join(kind.replace(".", " ").replace("_", " ").replace("-", " ").split())
    return words[:1].upper() + words[1:] if words else "Event"


def field_words(field: str) -> str:
    """The words for a detail or change field; unknown fields in words too."""
    words = FIELD_WORDS.get(field)
    if words is not None:
        return words
    text = " ".join(field.replace("_", " ").replace(".", " ").split())
    return text[:1].upper() + text[1:]


def value_words(value: object) -> str:
    """A detail value as text a person reads: no JSON, no Python reprs."""
    if value is None or value == "":
        return "none"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(value_words(item) for item in value) or "none"
    if isinstance(value, dict):
        pairs = value.items()
        return "; ".join(f"{field_words(str(k))}: {value_words(v)}" for k, v in pairs)
    text = str(value)
    return VALUE_WORDS.get(text, text)
