"""Discovery endpoints (RFC 7644 §4): what this server supports, exactly."""

from __future__ import annotations

from flask import Response
from flask import current_app

from blueprints.scim import bp
from blueprints.scim import scim_base_url
from blueprints.scim import scim_response
from blueprints.scim.errors import not_found
from blueprints.scim.schema import ENTERPRISE_USER_SCHEMA
from blueprints.scim.schema import GROUP_SCHEMA
from blueprints.scim.schema import LIST_SCHEMA
from blueprints.scim.schema import USER_SCHEMA

CONFIG_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"


def attribute(
    name: str,
    type_: str = "string",
    *,
    required: bool = False,
    case_exact: bool = False,
    mutability: str = "readWrite",
    returned: str = "default",
    uniqueness: str = "none",
    multi_valued: bool = False,
    description: str = "",
    sub: list[dict] | None = None,
) -> dict:
    """One attribute definition (RFC 7643 §7)."""
    definition = {
        "name": name,
        "type": type_,
        "multiValued": multi_valued,
        "description": description,
        "required": required,
        "caseExact": case_exact,
        "mutability": mutability,
        "returned": returned,
        "uniqueness": uniqueness,
    }
    if sub is not None:
        definition["subAttributes"] = sub
    return definition


def user_schema() -> dict:
    """The User attributes Gatehouse stores; others are accepted and ignored."""
    return {
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A member of the organization",
        "attributes": [
            attribute(
                "userName",
                required=True,
                uniqueness="server",
                description="Unique within the organization; usually the email.",
            ),
            attribute(
                "name",
                "complex",
                sub=[
                    attribute("givenName"),
                    attribute("familyName"),
                    attribute("formatted", mutability="readOnly"),
                ],
            ),
            attribute("displayName"),
            attribute(
                "emails",
                "complex",
                multi_valued=True,
                description="Only the primary address is kept.",
                sub=[
                    attribute("value"),
                    attribute("type", mutability="readOnly"),
                    attribute("primary", "boolean", mutability="readOnly"),
                ],
            ),
            attribute(
                "active",
                "boolean",
                description="false deactivates: data is kept, sign-in refused.",
            ),
            attribute("externalId", case_exact=True),
            attribute(
                "groups",
                "complex",
                multi_valued=True,
                mutability="readOnly",
                sub=[
                    attribute("value", mutability="readOnly"),
                    attribute("display", mutability="readOnly"),
                    attribute("$ref", "reference", mutability="readOnly"),
                    attribute("type", mutability="readOnly"),
                ],
            ),
        ],
        "meta": {
            "resourceType": "Schema",
            "location": f"{scim_base_url()}/Schemas/{USER_SCHEMA}",
        },
    }


def group_schema() -> dict:
    """The Group attributes Gatehouse stores."""
    return {
        "id": GROUP_SCHEMA,
        "name": "Group",
        "description": "A group of members, pushed from Okta",
        "attributes": [
            attribute("displayName", required=True, uniqueness="server"),
            attribute("externalId", case_exact=True),
            attribute(
                "members",
                "complex",
                multi_valued=True,
                sub=[
                    attribute("value", mutability="immutable"),
                    attribute("display", mutability="readOnly"),
                    attribute("$ref", "reference", mutability="immutable"),
                    attribute("type", mutability="immutable"),
                ],
            ),
        ],
        "meta": {
            "resourceType": "Schema",
            "location": f"{scim_base_url()}/Schemas/{GROUP_SCHEMA}",
        },
    }


def resource_types() -> list[dict]:
    """The two resource types served."""
    base = scim_base_url()
    return [
        {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "Members of the organization",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE_USER_SCHEMA, "required": False}],
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base}/ResourceTypes/User",
            },
        },
        {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Groups of members",
            "schema": GROUP_SCHEMA,
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base}/ResourceTypes/Group",
            },
        },
    ]


@bp.get("/ServiceProviderConfig")
def service_provider_config() -> Response:
    """What this server supports (RFC 7643 §5)."""
    return scim_response(
        {
            "schemas": [CONFIG_SCHEMA],
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {
                "supported": True,
                "maxResults": current_app.config["SCIM_MAX_PAGE_SIZE"],
            },
            "changePassword": {"supported": False},
            "sort": {"supported": True},
            "etag": {"supported": True},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "API key",
                    "description": "An API key with the scim scope, sent as "
                    "'Authorization: Bearer <key>'.",
                    "primary": True,
                }
            ],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": f"{scim_base_url()}/ServiceProviderConfig",
            },
        }
    )


@bp.get("/ResourceTypes")
def list_resource_types() -> Response:
    """The resource types (RFC 7644 §4)."""
    types = resource_types()
    return scim_response(
        {
            "schemas": [LIST_SCHEMA],
            "totalResults": len(types),
            "startIndex": 1,
            "itemsPerPage": len(types),
            "Resources": types,
        }
    )


@bp.get("/ResourceTypes/<name>")
def get_resource_type(name: str) -> Response:
    """One resource type."""
    for resource_type in resource_types():
        if resource_type["id"] == name:
            return scim_response(resource_type)
    raise not_found("ResourceType", name)


@bp.get("/Schemas")
def list_schemas() -> Response:
    """The schemas (RFC 7644 §4)."""
    schemas = [user_schema(), group_schema()]
    return scim_response(
        {
            "schemas": [LIST_SCHEMA],
            "totalResults": len(schemas),
            "startIndex": 1,
            "itemsPerPage": len(schemas),
            "Resources": schemas,
        }
    )


@bp.get("/Schemas/<path:schema_id>")
def get_schema(schema_id: str) -> Response:
    """One schema by its URN."""
    for schema in (user_schema(), group_schema()):
        if schema["id"] == schema_id:
            return scim_response(schema)
    raise not_found("Schema", schema_id)
