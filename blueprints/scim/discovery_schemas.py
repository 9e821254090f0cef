"""The attributes of every schema /Schemas publishes, as tables (RFC 7643 §7).

An attribute is (name, type, description) or (name, type, description, {...}):
the dict holds only the characteristics that differ from RFC 7643 §7's
defaults, under their SCIM names (`required`, `caseExact`, `mutability`,
`uniqueness`, `multiValued`, `canonicalValues`, `referenceTypes`,
`subAttributes`). A sub-attribute has its parent's mutability unless it says
otherwise. `discovery.expand` turns a table into the published definitions.
"""

from __future__ import annotations

from typing import Any

Attribute = tuple[Any, ...]

READ_ONLY: dict[str, Any] = {"mutability": "readOnly"}
REQUIRED: dict[str, Any] = {"required": True}

# -- the resources served: what Gatehouse stores (others are accepted and ignored)

USER_ATTRIBUTES: tuple[Attribute, ...] = (
    (
        "userName",
        "string",
        "Unique within the organization (compared case-insensitively); "
        "usually the email. Kept as sent.",
        {"required": True, "uniqueness": "server"},
    ),
    (
        "name",
        "complex",
        "Every member has a name: a request may leave it out (or remove it), and a "
        "member without given and family names answers with a formatted name built "
        "from the display name, else the email's local part.",
        {
            "required": True,
            "subAttributes": (
                ("givenName", "string", "Given (first) name."),
                ("familyName", "string", "Family (last) name."),
                (
                    "formatted",
                    "string",
                    "Set by Gatehouse, only for a member without given and "
                    "family names: the display name, else the email's local part.",
                    READ_ONLY,
                ),
            ),
        },
    ),
    ("displayName", "string", "The name shown in Gatehouse."),
    (
        "emails",
        "complex",
        "Every member has one email: send it (a create whose userName is an email "
        "may leave it out). Of several, the one marked primary is kept, else a work "
        "one, else the first; the others are not stored.",
        {
            "required": True,
            "multiValued": True,
            "subAttributes": (
                (
                    "value",
                    "string",
                    "The address, kept as sent and compared case-insensitively. "
                    "Unique within the organization.",
                    REQUIRED,
                ),
                (
                    "type",
                    "string",
                    "Only work is kept: other values are ignored "
                    "(RFC 7643 §7, canonicalValues).",
                    {"canonicalValues": ["work"]},
                ),
                (
                    "primary",
                    "boolean",
                    "Returned as sent with the address kept; true when none was "
                    "sent (the one address kept is the primary one).",
                ),
            ),
        },
    ),
    (
        "active",
        "boolean",
        "Every member is active or not: false deactivates (data is kept, sign-in "
        "is refused). A create that leaves it out makes an active member.",
        REQUIRED,
    ),
    (
        "groups",
        "complex",
        "The groups the member belongs to (change them through /Groups).",
        {
            "mutability": "readOnly",
            "multiValued": True,
            "subAttributes": (
                ("value", "string", "The group's id."),
                (
                    "$ref",
                    "reference",
                    "The group's URI.",
                    {"referenceTypes": ["Group"]},
                ),
                ("display", "string", "The group's displayName."),
                (
                    "type",
                    "string",
                    "Always direct (groups do not nest).",
                    {"canonicalValues": ["direct"]},
                ),
            ),
        },
    ),
)

IMMUTABLE: dict[str, Any] = {"mutability": "immutable"}

GROUP_ATTRIBUTES: tuple[Attribute, ...] = (
    (
        "displayName",
        "string",
        "Unique within the organization (compared case-insensitively).",
        {"required": True, "uniqueness": "server"},
    ),
    (
        "members",
        "complex",
        "The members: users of this organization only.",
        {
            "multiValued": True,
            "subAttributes": (
                ("value", "string", "The user's id.", IMMUTABLE),
                (
                    "$ref",
                    "reference",
                    "The user's URI.",
                    {**IMMUTABLE, "referenceTypes": ["User"]},
                ),
                (
                    "type",
                    "string",
                    "Always User.",
                    {**IMMUTABLE, "canonicalValues": ["User"]},
                ),
            ),
        },
    ),
)

# -- the discovery documents themselves (RFC 7643 §8.7.2), read-only throughout

SUPPORTED: Attribute = ("supported", "boolean", "Whether it is supported.", REQUIRED)
EXTERNAL: dict[str, Any] = {"referenceTypes": ["external"]}


def supported(name: str, description: str, *extra: Attribute) -> Attribute:
    """A required `{supported, ...}` option of /ServiceProviderConfig."""
    return (
        name,
        "complex",
        description,
        {"required": True, "subAttributes": (SUPPORTED, *extra)},
    )


CONFIG_ATTRIBUTES: tuple[Attribute, ...] = (
    ("documentationUri", "reference", "Human-readable help documentation.", EXTERNAL),
    supported("patch", "PATCH configuration options."),
    supported(
        "bulk",
        "Bulk configuration options.",
        ("maxOperations", "integer", "Most operations.", REQUIRED),
        ("maxPayloadSize", "integer", "Largest payload.", REQUIRED),
    ),
    supported(
        "filter",
        "Filter options.",
        ("maxResults", "integer", "Most resources returned in a response.", REQUIRED),
    ),
    supported("changePassword", "Change-password options."),
    supported("sort", "Sort options."),
    supported("etag", "ETag options."),
    (
        "authenticationSchemes",
        "complex",
        "Supported authentication schemes.",
        {
            "required": True,
            "multiValued": True,
            "subAttributes": (
                (
                    "type",
                    "string",
                    "The authentication scheme.",
                    {
                        "required": True,
                        "canonicalValues": [
                            "oauth",
                            "oauth2",
                            "oauthbearertoken",
                            "httpbasic",
                            "httpdigest",
                        ],
                    },
                ),
                ("name", "string", "The scheme's name.", REQUIRED),
                ("description", "string", "The scheme's description.", REQUIRED),
                ("specUri", "reference", "The scheme's specification.", EXTERNAL),
                (
                    "documentationUri",
                    "reference",
                    "The scheme's documentation.",
                    EXTERNAL,
                ),
                ("primary", "boolean", "The preferred scheme."),
            ),
        },
    ),
)

URI: dict[str, Any] = {"referenceTypes": ["uri"]}
SCHEMA_URI: dict[str, Any] = {"required": True, "caseExact": True, **URI}

RESOURCE_TYPE_ATTRIBUTES: tuple[Attribute, ...] = (
    ("id", "string", "The resource type's server unique id."),
    ("name", "string", "The resource type name.", REQUIRED),
    ("description", "string", "The resource type's description."),
    (
        "endpoint",
        "reference",
        "The resource type's endpoint, relative to the base URL.",
        {"required": True, **URI},
    ),
    ("schema", "reference", "The resource type's primary schema URI.", SCHEMA_URI),
    (
        "schemaExtensions",
        "complex",
        "The resource type's schema extensions.",
        {
            "multiValued": True,
            "subAttributes": (
                ("schema", "reference", "The URI of a schema extension.", SCHEMA_URI),
                (
                    "required",
                    "boolean",
                    "Whether resources must include the extension.",
                    REQUIRED,
                ),
            ),
        },
    ),
)

CASE_EXACT: dict[str, Any] = {"caseExact": True}


def canonical(*values: str) -> dict[str, Any]:
    """A case-exact string with these canonical values."""
    return {**CASE_EXACT, "canonicalValues": list(values)}


# The characteristics of an attribute (RFC 7643 §7), as /Schemas describes them.
CHARACTERISTICS: tuple[Attribute, ...] = (
    ("name", "string", "The attribute's name.", {"required": True, **CASE_EXACT}),
    (
        "type",
        "string",
        "The attribute's data type.",
        {
            "required": True,
            "canonicalValues": [
                "string",
                "complex",
                "boolean",
                "decimal",
                "integer",
                "dateTime",
                "reference",
                "binary",
            ],
        },
    ),
    ("multiValued", "boolean", "The attribute's plurality.", REQUIRED),
    ("description", "string", "The attribute's description.", CASE_EXACT),
    ("required", "boolean", "Whether the attribute is required."),
    (
        "canonicalValues",
        "string",
        "Suggested canonical values.",
        {"multiValued": True, **CASE_EXACT},
    ),
    ("caseExact", "boolean", "Whether a string is case sensitive."),
    (
        "mutability",
        "string",
        "When the value can be (re)defined.",
        canonical("readOnly", "readWrite", "immutable", "writeOnly"),
    ),
    (
        "returned",
        "string",
        "When the attribute is returned.",
        canonical("always", "never", "default", "request"),
    ),
    (
        "uniqueness",
        "string",
        "How the value is unique.",
        canonical("none", "server", "global"),
    ),
    (
        "referenceTypes",
        "string",
        "The resource types a reference may point to.",
        {"multiValued": True, **CASE_EXACT},
    ),
)

SCHEMA_ATTRIBUTES: tuple[Attribute, ...] = (
    ("id", "string", "The unique URI of the schema.", REQUIRED),
    ("name", "string", "The schema's name.", REQUIRED),
    ("description", "string", "The schema's description."),
    (
        "attributes",
        "complex",
        "The attributes of the schema and their characteristics.",
        {
            "required": True,
            "multiValued": True,
            "subAttributes": (
                *CHARACTERISTICS,
                (
                    "subAttributes",
                    "complex",
                    "The sub-attributes of a complex attribute.",
                    {"multiValued": True, "subAttributes": CHARACTERISTICS},
                ),
            ),
        },
    ),
)
