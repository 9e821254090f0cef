"""The one failure type of a SAML sign-in."""

from __future__ import annotations

from typing import Any


class SamlError(Exception):
    """A SAML response that must not sign anyone in.

    kind: what went wrong, in the terms of the page shown ("signature", "expired",
    "not_yet_valid", "audience", "destination", "issuer", "denied", "malformed",
    "unknown_request", "unknown_idp", "replayed", "invalid", and the ACS's own
    "not_set_up", "dashboard_off", "settings_changed", "other_browser"); see
    `messages.MESSAGES`.
    reason: the technical detail, for the audit log.
    details: more fields for the audit event (e.g. the issuer or assertion ID).
    """

    def __init__(self, kind: str, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.details = details
