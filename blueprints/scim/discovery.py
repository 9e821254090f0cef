"""Discovery endpoints (RFC 7644 §4): what this server supports, exactly.

Everything announced here is served, and nothing served is left out:
/ResourceTypes names User and Group (no schema extension: nothing of the
enterprise extension is stored, so it is not announced; its attributes are
still accepted and ignored), and /Schemas describes each of their attributes
as Gatehouse keeps them, plus the three schemas of the discovery documents
themselves (RFC 7643 §8.7.2). Every document carries its `schemas` and `meta`.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from blueprints.scim.discovery_schemas import CONFIG_ATTRIBUTES
from blueprints.scim.discovery_schemas import GROUP_ATTRIBUTES
from blueprints.scim.discovery_schemas import RESOURCE_TYPE_ATTRIBUTES
from blueprints.scim.discovery_schemas import SCHEMA_ATTRIBUTES
from blueprints.scim.discovery_schemas import USER_ATTRIBUTES
from blueprints.scim.discovery_schemas import Attribute
from blueprints.scim.errors import ScimError
from blueprints.scim.errors import not_found
from blueprints.scim.http import scim_base_url
from blueprints.scim.http import scim_response
from blueprints.scim.results import ScimResponse
from blueprints.scim.schema import GROUP_SCHEMA
from blueprints.scim.schema import USER_SCHEMA
from blueprints.scim.schema import list_response

CONFIG_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RW, RO = "readWrite", "readOnly"


# RFC 7643 §7's defaults, for what an attribute's table entry leaves out.
DEFAULTS: dict[str, Any] = {
    "multiValued": False,
    "required": False,
    "caseExact": False,
    "returned": "default",
    "uniqueness": "none",
}
# The characteristics of a definition, in the order they are published (the
# last two only when given; `subAttributes` follows them).
ORDER = (
    "name",
    "type",
    "multiValued",
    "description",
    "required",
    "caseExact",
    "mutability",
    "returned",
    "uniqueness",
    "canonicalValues",
    "referenceTypes",
)


def expand(table: tuple[Attribute, ...], mutability: str) -> list[dict]:
    """The definitions of a table of `discovery_schemas`, every characteristic
    spelled out; `mutability` is the default of the table's attributes."""
    definitions = []
    for name, type_, description, *rest in table:
        given = {
            **DEFAULTS,
            "name": name,
            "type": type_,
            "description": description,
            "mutability": mutability,
            **(rest[0] if rest else {}),
        }
        definition = {key: given[key] for key in ORDER if key in given}
        if "subAttributes" in given:
            definition["subAttributes"] = expand(
                given["subAttributes"], given["mutability"]
            )
        definitions.append(definition)
    return definitions


def schema_document(
    schema_id: str, name: str, description: str, attributes: list[dict]
) -> dict:
    """A Schema resource (RFC 7643 §7, represented as in §8.7)."""
    return {
        "schemas": [SCHEMA_SCHEMA],
        "id": schema_id,
        "name": name,
        "description": description,
        "attributes": attributes,
        "meta": {
            "resourceType": "Schema",
            "location": f"{scim_base_url()}/Schemas/{schema_id}",
        },
    }


# (id, name, description, attributes, mutability unless an attribute says
# otherwise): the resources' schemas, then the discovery documents' own.
SCHEMAS = (
    (USER_SCHEMA, "User", "A member of the organization.", USER_ATTRIBUTES, RW),
    (
        GROUP_SCHEMA,
        "Group",
        "A group of members, pushed from Okta.",
        GROUP_ATTRIBUTES,
        RW,
    ),
    (
        CONFIG_SCHEMA,
        # RFC 7643 §8.7.2 prints "Service Provider Configuration"; the resource
        # type's own name is what clients look the schema up by.
        "ServiceProviderConfig",
        "Schema for representing the service provider's configuration.",
        CONFIG_ATTRIBUTES,
        RO,
    ),
    (
        RESOURCE_TYPE_SCHEMA,
        "ResourceType",
        "Specifies the schema that describes a SCIM resource type.",
        RESOURCE_TYPE_ATTRIBUTES,
        RO,
    ),
    (
        SCHEMA_SCHEMA,
        "Schema",
        "Specifies the schema attribute structure of a SCIM resource.",
        SCHEMA_ATTRIBUTES,
        RO,
    ),
)


def schemas() -> list[dict]:
    """Every schema /Schemas publishes: the resources', then the discovery ones."""
    return [
        schema_document(schema_id, name, description, expand(table, mutability))
        for schema_id, name, description, table, mutability in SCHEMAS
    ]


def resource_types() -> list[dict]:
    """The two resource types served (RFC 7643 §6); no extension is announced."""
    base = scim_base_url()
    return [
        {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": name,
            "name": name,
            "endpoint": f"/{name}s",
            "description": description,
            "schema": schema,
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base}/ResourceTypes/{name}",
            },
        }
        for name, schema, description in (
            ("User", USER_SCHEMA, "Members of the organization"),
            ("Group", GROUP_SCHEMA, "Groups of members"),
        )
    ]


def service_provider_config() -> dict:
    """What this server supports (RFC 7643 §5), truthfully."""
    return {
        "schemas": [CONFIG_SCHEMA],
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {
            "supported": True,
            "maxResults": current_app.config["SCIM_MAX_PAGE_SIZE"],
        },
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        # ETag headers and meta.version on every resource; If-Match is honoured.
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


def get_service_provider_config() -> ScimResponse:
    """What this server supports (RFC 7643 §5)."""
    return scim_response(service_provider_config())


def list_resource_types() -> ScimResponse:
    """The resource types (RFC 7644 §4), as a ListResponse."""
    types = resource_types()
    return scim_response(list_response(types, len(types), 1))


def get_resource_type(name: str) -> ScimResponse:
    """One resource type."""
    for resource_type in resource_types():
        if resource_type["id"] == name:
            return scim_response(resource_type)
    raise not_found("ResourceType", name)


def list_schemas() -> ScimResponse:
    """The schemas (RFC 7644 §4), as a ListResponse."""
    documents = schemas()
    return scim_response(list_response(documents, len(documents), 1))


def get_schema(schema_id: str) -> ScimResponse:
    """One schema by its URN."""
    for document in schemas():
        if document["id"] == schema_id:
            return scim_response(document)
    raise not_found("Schema", schema_id)


def search_everything() -> ScimResponse:
    """Searching all resource types at once is not served (RFC 7644 §3.4.3).

    RFC 7644 §3.12: 501 for an operation the service provider does not support.
    """
    raise ScimError(
        501,
        "Searching several resource types at once is not supported: "
        "query /Users or /Groups with GET.",
    )
