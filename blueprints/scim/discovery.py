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


def attribute(
    name: str,
    type_: str = "string",
    description: str = "",
    *,
    required: bool = False,
    case_exact: bool = False,
    mutability: str = "readWrite",
    returned: str = "default",
    uniqueness: str = "none",
    multi_valued: bool = False,
    canonical: list[str] | None = None,
    references: list[str] | None = None,
    sub: list[dict] | None = None,
) -> dict:
    """One attribute definition with every characteristic of RFC 7643 §7."""
    definition: dict[str, Any] = {
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
    if canonical is not None:
        definition["canonicalValues"] = canonical
    if references is not None:
        definition["referenceTypes"] = references
    if sub is not None:
        definition["subAttributes"] = sub
    return definition


def read_only(
    name: str, type_: str = "string", description: str = "", **kw: Any
) -> dict:
    """An attribute the server sets; clients read it (discovery documents)."""
    return attribute(name, type_, description, mutability="readOnly", **kw)


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


# -- the resources served --------------------------------------------------------


def user_schema() -> dict:
    """The User attributes Gatehouse stores (others are accepted and ignored)."""
    return schema_document(
        USER_SCHEMA,
        "User",
        "A member of the organization.",
        [
            attribute(
                "userName",
                "string",
                "Unique within the organization (compared case-insensitively); "
                "usually the email. Kept as sent.",
                required=True,
                uniqueness="server",
            ),
            attribute(
                "name",
                "complex",
                "Every member has a name: a request may leave it out (or remove "
                "it), and a member without given and family names answers with a "
                "formatted name built from the display name, else the email's "
                "local part.",
                required=True,
                sub=[
                    attribute("givenName", "string", "Given (first) name."),
                    attribute("familyName", "string", "Family (last) name."),
                    read_only(
                        "formatted",
                        "string",
                        "Set by Gatehouse, only for a member without given and "
                        "family names: the display name, else the email's local part.",
                    ),
                ],
            ),
            attribute("displayName", "string", "The name shown in Gatehouse."),
            attribute(
                "emails",
                "complex",
                "Every member has one email: send it (a create whose userName is "
                "an email may leave it out). Of several, the one marked primary is "
                "kept, else a work one, else the first; the others are not stored.",
                required=True,
                multi_valued=True,
                sub=[
                    attribute(
                        "value",
                        "string",
                        "The address, kept as sent and compared case-insensitively. "
                        "Unique within the organization.",
                        required=True,
                    ),
                    attribute(
                        "type",
                        "string",
                        "Only work is kept: other values are ignored "
                        "(RFC 7643 §7, canonicalValues).",
                        canonical=["work"],
                    ),
                    attribute(
                        "primary",
                        "boolean",
                        "Returned as sent with the address kept; true when none "
                        "was sent (the one address kept is the primary one).",
                    ),
                ],
            ),
            attribute(
                "active",
                "boolean",
                "Every member is active or not: false deactivates (data is kept, "
                "sign-in is refused). A create that leaves it out makes an active "
                "member.",
                required=True,
            ),
            read_only(
                "groups",
                "complex",
                "The groups the member belongs to (change them through /Groups).",
                multi_valued=True,
                sub=[
                    read_only("value", "string", "The group's id."),
                    read_only(
                        "$ref", "reference", "The group's URI.", references=["Group"]
                    ),
                    read_only("display", "string", "The group's displayName."),
                    read_only(
                        "type",
                        "string",
                        "Always direct (groups do not nest).",
                        canonical=["direct"],
                    ),
                ],
            ),
        ],
    )


def group_schema() -> dict:
    """The Group attributes Gatehouse stores."""
    return schema_document(
        GROUP_SCHEMA,
        "Group",
        "A group of members, pushed from Okta.",
        [
            attribute(
                "displayName",
                "string",
                "Unique within the organization (compared case-insensitively).",
                required=True,
                uniqueness="server",
            ),
            attribute(
                "members",
                "complex",
                "The members: users of this organization only.",
                multi_valued=True,
                sub=[
                    attribute(
                        "value", "string", "The user's id.", mutability="immutable"
                    ),
                    attribute(
                        "$ref",
                        "reference",
                        "The user's URI.",
                        mutability="immutable",
                        references=["User"],
                    ),
                    attribute(
                        "type",
                        "string",
                        "Always User.",
                        mutability="immutable",
                        canonical=["User"],
                    ),
                ],
            ),
        ],
    )


# -- the discovery documents themselves (RFC 7643 §8.7.2) ------------------------


def _supported(name: str, description: str, *extra: dict) -> dict:
    return read_only(
        name,
        "complex",
        description,
        required=True,
        sub=[
            read_only(
                "supported", "boolean", "Whether it is supported.", required=True
            ),
            *extra,
        ],
    )


def config_schema() -> dict:
    """The schema of /ServiceProviderConfig."""
    external = {"references": ["external"]}
    return schema_document(
        CONFIG_SCHEMA,
        # RFC 7643 §8.7.2 prints "Service Provider Configuration"; the resource
        # type's own name is what clients look the schema up by.
        "ServiceProviderConfig",
        "Schema for representing the service provider's configuration.",
        [
            read_only(
                "documentationUri",
                "reference",
                "Human-readable help documentation.",
                **external,
            ),
            _supported("patch", "PATCH configuration options."),
            _supported(
                "bulk",
                "Bulk configuration options.",
                read_only(
                    "maxOperations", "integer", "Most operations.", required=True
                ),
                read_only(
                    "maxPayloadSize", "integer", "Largest payload.", required=True
                ),
            ),
            _supported(
                "filter",
                "Filter options.",
                read_only(
                    "maxResults",
                    "integer",
                    "Most resources returned in a response.",
                    required=True,
                ),
            ),
            _supported("changePassword", "Change-password options."),
            _supported("sort", "Sort options."),
            _supported("etag", "ETag options."),
            read_only(
                "authenticationSchemes",
                "complex",
                "Supported authentication schemes.",
                required=True,
                multi_valued=True,
                sub=[
                    read_only(
                        "type",
                        "string",
                        "The authentication scheme.",
                        required=True,
                        canonical=[
                            "oauth",
                            "oauth2",
                            "oauthbearertoken",
                            "httpbasic",
                            "httpdigest",
                        ],
                    ),
                    read_only("name", "string", "The scheme's name.", required=True),
                    read_only(
                        "description",
                        "string",
                        "The scheme's description.",
                        required=True,
                    ),
                    read_only(
                        "specUri",
                        "reference",
                        "The scheme's specification.",
                        **external,
                    ),
                    read_only(
                        "documentationUri",
                        "reference",
                        "The scheme's documentation.",
                        **external,
                    ),
                    read_only("primary", "boolean", "The preferred scheme."),
                ],
            ),
        ],
    )


def resource_type_schema() -> dict:
    """The schema of /ResourceTypes entries."""
    uri = {"references": ["uri"]}
    return schema_document(
        RESOURCE_TYPE_SCHEMA,
        "ResourceType",
        "Specifies the schema that describes a SCIM resource type.",
        [
            read_only("id", "string", "The resource type's server unique id."),
            read_only("name", "string", "The resource type name.", required=True),
            read_only("description", "string", "The resource type's description."),
            read_only(
                "endpoint",
                "reference",
                "The resource type's endpoint, relative to the base URL.",
                required=True,
                **uri,
            ),
            read_only(
                "schema",
                "reference",
                "The resource type's primary schema URI.",
                required=True,
                case_exact=True,
                **uri,
            ),
            read_only(
                "schemaExtensions",
                "complex",
                "The resource type's schema extensions.",
                multi_valued=True,
                sub=[
                    read_only(
                        "schema",
                        "reference",
                        "The URI of a schema extension.",
                        required=True,
                        case_exact=True,
                        **uri,
                    ),
                    read_only(
                        "required",
                        "boolean",
                        "Whether resources must include the extension.",
                        required=True,
                    ),
                ],
            ),
        ],
    )


def _attribute_characteristics(*, with_sub_attributes: bool) -> list[dict]:
    characteristics = [
        read_only(
            "name", "string", "The attribute's name.", required=True, case_exact=True
        ),
        read_only(
            "type",
            "string",
            "The attribute's data type.",
            required=True,
            canonical=[
                "string",
                "complex",
                "boolean",
                "decimal",
                "integer",
                "dateTime",
                "reference",
                "binary",
            ],
        ),
        read_only(
            "multiValued", "boolean", "The attribute's plurality.", required=True
        ),
        read_only(
            "description", "string", "The attribute's description.", case_exact=True
        ),
        read_only("required", "boolean", "Whether the attribute is required."),
        read_only(
            "canonicalValues",
            "string",
            "Suggested canonical values.",
            multi_valued=True,
            case_exact=True,
        ),
        read_only("caseExact", "boolean", "Whether a string is case sensitive."),
        read_only(
            "mutability",
            "string",
            "When the value can be (re)defined.",
            case_exact=True,
            canonical=["readOnly", "readWrite", "immutable", "writeOnly"],
        ),
        read_only(
            "returned",
            "string",
            "When the attribute is returned.",
            case_exact=True,
            canonical=["always", "never", "default", "request"],
        ),
        read_only(
            "uniqueness",
            "string",
            "How the value is unique.",
            case_exact=True,
            canonical=["none", "server", "global"],
        ),
        read_only(
            "referenceTypes",
            "string",
            "The resource types a reference may point to.",
            multi_valued=True,
            case_exact=True,
        ),
    ]
    if with_sub_attributes:
        characteristics.append(
            read_only(
                "subAttributes",
                "complex",
                "The sub-attributes of a complex attribute.",
                multi_valued=True,
                sub=_attribute_characteristics(with_sub_attributes=False),
            )
        )
    return characteristics


def schema_schema() -> dict:
    """The schema of /Schemas entries."""
    return schema_document(
        SCHEMA_SCHEMA,
        "Schema",
        "Specifies the schema attribute structure of a SCIM resource.",
        [
            read_only("id", "string", "The unique URI of the schema.", required=True),
            read_only("name", "string", "The schema's name.", required=True),
            read_only("description", "string", "The schema's description."),
            read_only(
                "attributes",
                "complex",
                "The attributes of the schema and their characteristics.",
                required=True,
                multi_valued=True,
                sub=_attribute_characteristics(with_sub_attributes=True),
            ),
        ],
    )


def schemas() -> list[dict]:
    """Every schema /Schemas publishes: the resources', then the discovery ones."""
    return [
        user_schema(),
        group_schema(),
        config_schema(),
        resource_type_schema(),
        schema_schema(),
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
