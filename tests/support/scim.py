"""A SCIM client for tests, and the SCIM names they share.

`ScimClient` sends SCIM requests through Flask's test client with an
organization's key, and the headers of the identity provider that would send
them (`idp`): Okta's provisioning agent, Entra's provisioning service, or a
plain SCIM client. Bodies go out as `json.dumps` writes them (keys in the
order given, as an IdP sends them). Answers are returned unchecked: the tests
assert on them.
"""

from __future__ import annotations

import json as jsonlib
from types import EllipsisType
from typing import Any
from typing import Literal

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

SCIM = "/api/v1/scim"
SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

Idp = Literal["okta", "entra"] | None

# What each sender puts beside its key on every request.
IDP_HEADERS: dict[Idp, dict[str, str]] = {
    None: {"Content-Type": SCIM_JSON},
    "okta": {
        "Content-Type": "application/scim+json; charset=utf-8",
        "Accept": SCIM_JSON,
        "User-Agent": "OKTA SCIM Integration",
    },
    "entra": {"Content-Type": SCIM_JSON, "Accept": SCIM_JSON},
}


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    """A PatchOp body made of `operations`."""
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


class ScimClient:
    """SCIM requests with one key, as `idp` sends them (each call may say otherwise)."""

    def __init__(self, client: FlaskClient, secret: str, idp: Idp = None) -> None:
        self.client = client
        self.secret = secret
        self.idp = idp

    def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        idp: Idp | EllipsisType = ...,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        **options: Any,
    ) -> TestResponse:
        """`method` on SCIM + `path`, with `json` as the body (None: no body).

        `headers` add to or replace the sender's; `options` go to the test
        client (`base_url`, ...).
        """
        sender = self.idp if isinstance(idp, EllipsisType) else idp
        return self.client.open(
            SCIM + path,
            method=method,
            headers={
                **IDP_HEADERS[sender],
                "Authorization": f"Bearer {self.secret}",
                **(headers or {}),
            },
            data=None if json is None else jsonlib.dumps(json),
            query_string=query,
            **options,
        )

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        """GET SCIM + `path` (keywords as for `call`)."""
        return self.call("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> TestResponse:
        """POST `json` to SCIM + `path`."""
        return self.call("POST", path, json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> TestResponse:
        """PUT `json` at SCIM + `path`."""
        return self.call("PUT", path, json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> TestResponse:
        """PATCH SCIM + `path` with `json` (a PatchOp: `patch_body`)."""
        return self.call("PATCH", path, json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        """DELETE SCIM + `path`."""
        return self.call("DELETE", path, **kwargs)
