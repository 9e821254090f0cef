"""The one failure type of a SAML sign-in."""

from __future__ import annotations


class SamlError(Exception):
    """A SAML response that must not sign anyone in.

    kind: what went wrong, in the terms of the page shown ("signature", "expired",
    "not_yet_valid", "audience", "destination", "issuer", "denied", "malformed",
    "unknown_request", "unknown_idp", "replayed", "invalid").
    reason: the technical detail, for the audit log.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
