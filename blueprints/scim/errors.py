"""SCIM errors (RFC 7644 §3.12): one exception type and its JSON body."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from blueprints.scim.results import Outcome
from core import authority

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    """A failure answered with the SCIM error schema.

    `scim_type` is one of RFC 7644 §3.12's values (invalidFilter, tooMany,
    uniqueness, mutability, invalidSyntax, invalidPath, noTarget, invalidValue,
    invalidVers, sensitive) or None. `outcome` is the resource the request was
    working on when it failed, if the view said (see `on_failure`).
    """

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.outcome: Outcome | None = None

    def body(self) -> dict[str, Any]:
        """The error as a SCIM Error resource."""
        body: dict[str, Any] = {
            "schemas": [ERROR_SCHEMA],
            "status": str(self.status),
            "detail": self.detail,
        }
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


@contextmanager
def on_failure(outcome: Outcome) -> Iterator[None]:
    """Record a ScimError raised inside as being about `outcome`'s resource, so
    the activity log names what a failed create or delete was working on."""
    try:
        yield
    except ScimError as error:
        error.outcome = outcome
        raise


def bad_request(detail: str, scim_type: str = "invalidValue") -> ScimError:
    """A 400 with a scimType."""
    return ScimError(400, detail, scim_type)


def not_found(resource: str, resource_id: str) -> ScimError:
    """A 404 for a resource that does not exist in this organization."""
    return ScimError(404, f"{resource} {resource_id} not found")


def account_error(error: authority.AccountError) -> ScimError:
    """The SCIM form of a refused account change (core.authority's reasons).

    A duplicate is 409 uniqueness, a missing authority 403, a change that would
    leave no active owner 409, any other broken rule 400.
    """
    if isinstance(error, authority.Conflict):
        return ScimError(409, str(error), "uniqueness")
    if isinstance(error, authority.NotAllowed):
        return ScimError(403, str(error))
    if isinstance(error, authority.NoOwnerLeft):
        return ScimError(409, str(error))
    return bad_request(str(error))
