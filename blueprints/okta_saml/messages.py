"""What a person reads when a SAML sign-in fails: failure kind -> message, status.

`{sp_entity_id}` and `{acs_url}` are filled in with the values an administrator
pastes into Okta.
"""

from __future__ import annotations

from blueprints.okta_saml.sp import acs_url
from blueprints.okta_saml.sp import sp_entity_id

START_AGAIN = " Start again from the sign-in page."

MESSAGES: dict[str, tuple[str, int]] = {
    "signature": (
        "Okta's signature on this sign-in does not match the certificate "
        "Gatehouse has for your organization. If the signing certificate was "
        "changed in Okta, an administrator should open Settings, Okta "
        "authentication, and click Refresh metadata.",
        403,
    ),
    "weak_algorithm": (
        "Okta signed this answer with SHA-1, which Gatehouse refuses. An "
        "administrator should set Signature Algorithm RSA-SHA256 and Digest "
        "Algorithm SHA256 in the Okta app's SAML settings.",
        403,
    ),
    "expired": (
        "Okta's sign-in answer has expired. Check that this server's clock is "
        "right, then sign in again.",
        403,
    ),
    "not_yet_valid": (
        "Okta's sign-in answer is dated in the future: this server's clock is "
        "behind. Check the server clock, then sign in again.",
        403,
    ),
    "audience": (
        "Okta's answer was meant for another application. An administrator "
        "should set Audience URI (SP Entity ID) in the Okta app to "
        "{sp_entity_id}.",
        403,
    ),
    "destination": (
        "Okta sent this answer to another address. An administrator should set "
        "the Single sign on URL in the Okta app to {acs_url}.",
        403,
    ),
    "issuer": (
        "The answer came from an Okta app other than the one set up for your "
        "organization. An administrator should check the metadata URL in "
        "Settings, Okta authentication.",
        403,
    ),
    "denied": (
        "Okta did not sign you in. Usually this means you are not assigned to "
        "the Gatehouse app in Okta: ask your Okta administrator to assign you.",
        403,
    ),
    "unknown_idp": (
        "Gatehouse does not know the Okta app that sent you here. Ask your "
        "administrator to set up Okta sign-in (SAML) with that app's metadata "
        "URL.",
        403,
    ),
    "dashboard_off": (
        "Signing in from the Okta dashboard is switched off for your "
        "organization. Use Single Sign On on Gatehouse's sign-in page instead.",
        403,
    ),
    "not_set_up": (
        "Okta sign-in with SAML is not set up for this organization, or was "
        "switched off. Ask your administrator.",
        403,
    ),
    "settings_changed": (
        "Your organization's Okta settings changed. Start again.",
        403,
    ),
    "other_browser": (
        "This sign-in was started in another browser, or this browser did not "
        "keep Gatehouse's sign-in cookie. Start again from the sign-in page, "
        "in the browser you use for Gatehouse.",
        403,
    ),
    "throttled": (
        "Too many sign-in attempts from your network failed. Wait a few "
        "minutes, then start again from the sign-in page.",
        429,
    ),
    "unknown_request": (
        "This sign-in has expired or was already used." + START_AGAIN,
        400,
    ),
    "replayed": ("This sign-in answer was already used." + START_AGAIN, 400),
    "malformed": (
        "Okta's answer could not be read, so you were not signed in." + START_AGAIN,
        400,
    ),
}

# Any other kind ("invalid", or one this table does not know).
OTHERWISE = (
    "Okta's answer could not be verified, so you were not signed in. Start "
    "again; if it keeps happening, ask your administrator to click Refresh "
    "metadata in Settings, Okta authentication.",
    403,
)


def message(kind: str) -> tuple[str, int]:
    """What a person reads when a SAML sign-in fails, and the HTTP status."""
    text, status = MESSAGES.get(kind, OTHERWISE)
    return text.format(sp_entity_id=sp_entity_id(), acs_url=acs_url()), status
