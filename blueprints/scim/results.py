"""What a SCIM view hands back: its response, and what the request did.

A view returns a `ScimResponse` whose `outcome` names the resource it touched
and the changes it made; the activity log (`activity.finish_request`) reads it
from the response it is given. A failure carries its `ScimError` (and, when the
view said which resource it was working on, that resource) the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING

from flask import Response

if TYPE_CHECKING:
    from blueprints.scim.errors import ScimError


@dataclass(frozen=True)
class Outcome:
    """The resource a request touched and how, as the activity log shows it.

    `resource_id` is None until the resource exists (a create that failed);
    `changes` is {"attribute": [before, after]} for every attribute changed.
    """

    resource_type: str
    resource_id: int | None
    label: str
    changes: dict[str, list[object]] = field(default_factory=dict)


class ScimResponse(Response):
    """A response of the SCIM API, with what the request did."""

    outcome: Outcome | None = None
    error: ScimError | None = None


def what_happened(response: Response) -> tuple[Outcome | None, ScimError | None]:
    """The outcome and error a response carries (none for any other response)."""
    if isinstance(response, ScimResponse):
        return response.outcome, response.error
    return None, None
