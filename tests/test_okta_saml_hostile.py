"""Hostile SAML responses at the ACS: none of them may sign anyone in (issue #5).

Each attack is built from a response the test IdP (`tests.support.saml_idp.SamlIdp`,
pysaml2 signing with xmlsec1) really signed, then broken with lxml or plain
bytes, and posted to `POST /api/v1/auth/login/okta/callback` the way a browser
does with Okta's form: cross-site, with only the SameSite=None SAML cookie.
Unless a test says otherwise, Acme's Okta is connected and Acme has a
SCIM-provisioned member victim@acme.test whom an honest assertion links and
signs in (`test_the_honest_response_would_sign_in_the_victim` proves it), so an
attack that got through would hand the attacker the victim's account.

For every refusal the test checks: the status and the actionable message of
`MESSAGES` (blueprints/okta_saml/messages.py); one `sign_in.refused` audit event
(method "okta-saml") with the expected `failure` kind; the posting client holds
no session; and no row of any table other than the audit log changed (no user,
identity, session, consumed AuthnRequest or replay-cache entry).

Covered:

1. unsigned response and assertion;
2. signed response around an unsigned assertion;
3. signatures removed after signing (all of them, or the assertion's only);
4. signed by another key (also one that puts the trusted certificate in its
   KeyInfo), and by a second IdP's key under the first IdP's Issuer;
5. NameID or the email attribute changed after signing;
6. XML signature wrapping, the XSW1-XSW8 catalogue of Somorovsky et al., "On
   Breaking SAML: Be Whoever You Want to Be" (2012), plus duplicate IDs;
7. a comment or processing instruction splitting the NameID;
8. replayed SP-initiated and dashboard responses (also a replay stripped of its
   InResponseTo to pass as a dashboard sign-in);
9. audience, Destination and Recipient that are wrong, missing, or only
   contain our address;
10. expired and not yet valid, outside and inside the allowed clock skew, and
    an assertion with no NotOnOrAfter at all;
11. DOCTYPE: external entity (XXE), entity expansion, a bare DTD;
12. SHA-1 signature or digest;
13. cross-organization: Acme and Beta, each with its own IdP (Beta's IdP
    answering Acme's request or posing as Acme's, a Response Issuer relabelled,
    InResponseTo switched to the other organization's request, and an honest
    dashboard answer naming an address that exists only in the other one);
14. InResponseTo games (unknown, too long, moved to another pending request,
    stripped from an SP-initiated answer, claimed by a dashboard answer);
15. unreadable input (not base64, empty, huge, deep, not a Response, a bare
    assertion, a LogoutResponse, two assertions, an EncryptedAssertion, a body
    of megabytes) and signed assertions python3-saml only rejects when they are
    read (no NameID, empty NameID, foreign SPNameQualifier, duplicate
    attribute): never a 500;
16. a seeded loop of single-byte flips inside a signed assertion.

"""

from __future__ import annotations

import base64
import html
import random
from collections.abc import Callable
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from sqlalchemy.exc import IntegrityError
from werkzeug.test import TestResponse

from core import linking
from core import sso
from core.extensions import db
from core.models import AuditEvent
from core.models import Organization
from core.models import User
from core.provisioning import organizations
from tests.support.builders import OrgInfo
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.rows import assert_nobody_signed_in
from tests.support.rows import identities
from tests.support.rows import signed_in_user_id
from tests.support.rows import snapshot
from tests.support.rows import user_row
from tests.support.saml import ACS_URL
from tests.support.saml import PUBLIC_BASE_URL
from tests.support.saml import post_from_okta
from tests.support.saml import refusals
from tests.support.saml import saml_successes
from tests.support.saml import start
from tests.support.saml_idp import SamlIdp
from tests.support.saml_idp_response import ResponseOverrides
from tests.support.saml_xml import DIGEST_SHA1
from tests.support.saml_xml import SIG_RSA_SHA1

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"

VICTIM = "victim@acme.test"
MALLORY = "mallory@acme.test"

# What `MESSAGES` says for each failure kind (a distinctive part) and the status.
MESSAGES: dict[str, tuple[str, int]] = {
    "weak_algorithm": ("Okta signed this answer with SHA-1", 403),
    "signature": (
        "Okta's signature on this sign-in does not match the certificate Gatehouse "
        "has for your organization.",
        403,
    ),
    "expired": ("Okta's sign-in answer has expired.", 403),
    "not_yet_valid": ("Okta's sign-in answer is dated in the future", 403),
    "audience": (
        "Okta's answer was meant for another application. An administrator should "
        f"set Audience URI (SP Entity ID) in the Okta app to {PUBLIC_BASE_URL}.",
        403,
    ),
    "destination": (
        "Okta sent this answer to another address. An administrator should set "
        f"the Single sign on URL in the Okta app to {ACS_URL}.",
        403,
    ),
    "issuer": (
        "The answer came from an Okta app other than the one set up for your "
        "organization.",
        403,
    ),
    "unknown_idp": ("Gatehouse does not know the Okta app that sent you here.", 403),
    "unknown_request": (
        "This sign-in has expired or was already used. Start again from the "
        "sign-in page.",
        400,
    ),
    "replayed": (
        "This sign-in answer was already used. Start again from the sign-in page.",
        400,
    ),
    "malformed": (
        "Okta's answer could not be read, so you were not signed in. Start again "
        "from the sign-in page.",
        400,
    ),
    "invalid": ("Okta's answer could not be verified, so you were not signed in.", 403),
    "other_browser": ("This sign-in was started in another browser", 403),
}


# -- fixtures --------------------------------------------------------------------------


pytestmark = pytest.mark.usefixtures("quick_passwords")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """An app whose public address is PUBLIC_BASE_URL (the SP entity ID)."""
    # The per-address throttle is tested on its own; here it would cut the
    # byte-flip loop short.
    app = make_app(
        tmp_path, PUBLIC_BASE_URL=PUBLIC_BASE_URL, SAML_MAX_FAILURES_PER_ADDRESS=1000
    )
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[SamlIdp]:
    """Acme's Okta: a SAML IdP on 127.0.0.1 that knows Gatehouse as its SP."""
    with SamlIdp(PUBLIC_BASE_URL, ACS_URL, tmp_dir=tmp_path / "idp") as server:
        server.user = person(VICTIM)
        yield server


@pytest.fixture
def beta_idp(tmp_path: Path) -> Iterator[SamlIdp]:
    """A second, independent IdP (Beta's Okta, or just some other Okta)."""
    with SamlIdp(PUBLIC_BASE_URL, ACS_URL, tmp_dir=tmp_path / "beta-idp") as server:
        yield server


@dataclass(frozen=True)
class Acme:
    """Acme, connected to `idp`, and its SCIM-provisioned member victim@acme.test."""

    org: OrgInfo
    victim_id: int


@pytest.fixture
def acme(app: Flask, idp: SamlIdp) -> Acme:
    """Acme with Okta SAML on (dashboard sign-in allowed) and the victim."""
    org = make_org(app)
    connect_cli(app, org, idp)
    victim_id = make_user(app, org.id, VICTIM, source="scim", password=None)
    return Acme(org, victim_id)


# -- helpers ---------------------------------------------------------------------------


def person(email: str) -> dict[str, str]:
    """`SamlIdp.user` for someone at the IdP."""
    return {"name_id": email, "email": email, "firstName": "Some", "lastName": "One"}


def as_user(email: str) -> ResponseOverrides:
    """Overrides that make the IdP assert `email` (NameID and email attribute)."""
    return {"name_id": email, "attributes": {"email": email, "firstName": "M"}}


def connect_cli(app: Flask, org: OrgInfo, idp: SamlIdp) -> None:
    """`flask sso set-saml` (the metadata is fetched over HTTP, as in settings)."""
    result = app.test_cli_runner().invoke(
        args=["sso", "set-saml", "--org", org.name, "--metadata-url", idp.metadata_url]
    )
    assert result.exit_code == 0, result.output


def state(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """`snapshot` without what every refusal writes: the audit log and the
    per-address throttle count.

    saml_request and saml_assertion_seen stay in: a refusal must neither
    consume the pending AuthnRequest nor remember the assertion.
    """
    return {
        table: rows
        for table, rows in snapshot(app).items()
        if table not in ("audit_event", "sign_in_failure")
    }


@dataclass(frozen=True)
class Before:
    """What the database held, and how many refusals, before an attack."""

    state: dict[str, list[tuple[Any, ...]]]
    refusals: int


def before(app: Flask) -> Before:
    """Remember the database before posting an attack."""
    return Before(state(app), len(refusals(app)))


def assert_refused(
    app: Flask,
    client: FlaskClient,
    response: TestResponse,
    kind: str,
    was: Before,
) -> dict[str, Any]:
    """The attack was refused with `kind`'s page, audited, and changed nothing.

    Returns the `sign_in.refused` event.
    """
    new = refusals(app)[was.refusals :]
    failures = [event.get("failure") for event in new]
    assert len(new) == 1 and failures[0] == kind, [
        (event.get("failure"), event.get("reason")) for event in new
    ]
    page = html.unescape(response.get_data(as_text=True))
    message, status = MESSAGES[failures[0]]
    assert response.status_code == status, page
    assert message in page, page
    assert state(app) == was.state
    assert_nobody_signed_in(app, client)
    return new[0]


def b64(xml: bytes) -> str:
    """A document as the HTTP-POST binding carries it."""
    return base64.b64encode(xml).decode("ascii")


def post(client: FlaskClient, raw: str) -> TestResponse:
    """POST a SAMLResponse (already base64) to the ACS, as Okta's form does:
    cross-site from `client`'s browser."""
    return post_from_okta(client, {"SAMLResponse": raw})


def request_id(client: FlaskClient, idp: SamlIdp, org: str = "Acme") -> str:
    """Start an SP-initiated sign-in; the ID of the AuthnRequest the IdP got."""
    return idp.receive_redirect(start(client, org)).id


def parse(xml: bytes) -> etree._Element:
    """A signed document as an lxml tree (whitespace kept: signatures survive)."""
    return etree.fromstring(xml)


def serialize(root: etree._Element) -> bytes:
    """The tree back to bytes with an XML declaration."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def q(namespace: str, name: str) -> str:
    """Clark notation."""
    return f"{{{namespace}}}{name}"


def only(root: etree._Element, path: str) -> etree._Element:
    """The one element at `path` (ElementPath with the saml/samlp/ds prefixes)."""
    found = root.findall(path, {"saml": SAML, "samlp": SAMLP, "ds": DS})
    assert len(found) == 1, (path, found)
    return found[0]


def assertion_of(root: etree._Element) -> etree._Element:
    """The Response's Assertion."""
    return only(root, "saml:Assertion")


def signature_of(element: etree._Element) -> etree._Element:
    """An element's own (enveloped) ds:Signature."""
    return only(element, "ds:Signature")


def impersonate(assertion: etree._Element, email: str = VICTIM) -> etree._Element:
    """Point an assertion at `email`: NameID and email attribute (not re-signed)."""
    only(assertion, "saml:Subject/saml:NameID").text = email
    only(
        assertion,
        "saml:AttributeStatement/saml:Attribute[@Name='email']/saml:AttributeValue",
    ).text = email
    return assertion


def evil_copy(assertion: etree._Element, *, keep_signature: bool) -> etree._Element:
    """A copy of the signed assertion that names the victim."""
    evil = deepcopy(assertion)
    if not keep_signature:
        evil.remove(signature_of(evil))
    return impersonate(evil)


def strip_signature(element: etree._Element) -> etree._Element:
    """Remove an element's own ds:Signature; returns the element."""
    element.remove(signature_of(element))
    return element


# -- the control -----------------------------------------------------------------------


def test_the_honest_response_would_sign_in_the_victim(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    """The victim setup is meaningful: an honest assertion links and signs in."""
    client = app.test_client()
    response = post(client, b64(idp.response_xml(request_id(client, idp))))
    assert response.status_code == 302, response.text
    assert signed_in_user_id(app, client) == acme.victim_id
    assert [e["outcome"] for e in saml_successes(app)] == ["linked"]


# -- 1-3. missing signatures -----------------------------------------------------------


@pytest.mark.parametrize(
    "sign_response", [False, True], ids=["nothing-signed", "only-the-response-signed"]
)
def test_an_unsigned_assertion_is_refused(
    app: Flask, idp: SamlIdp, acme: Acme, sign_response: bool
) -> None:
    """Okta can sign the Response, the Assertion or both: Gatehouse wants the
    Assertion signed, since it is what is read."""
    client = app.test_client()
    xml = idp.response_xml(
        request_id(client, idp), sign_response=sign_response, sign_assertion=False
    )
    was = before(app)
    event = assert_refused(app, client, post(client, b64(xml)), "signature", was)
    assert "not signed" in event["reason"]
    assert event["organization_id"] == acme.org.id


@pytest.mark.parametrize("which", ["all", "the-assertions"])
def test_a_response_stripped_of_its_signatures_is_refused(
    app: Flask, idp: SamlIdp, acme: Acme, which: str
) -> None:
    client = app.test_client()
    root = parse(idp.response_xml(request_id(client, idp)))
    strip_signature(assertion_of(root))
    if which == "all":
        strip_signature(root)
        assert root.find(f".//{q(DS, 'Signature')}") is None
    was = before(app)
    assert_refused(app, client, post(client, b64(serialize(root))), "signature", was)


# -- 4. the wrong key ------------------------------------------------------------------


def test_a_response_signed_by_another_key_is_refused(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    client = app.test_client()
    xml = idp.response_xml(request_id(client, idp), signing_key=idp.make_key_pair())
    was = before(app)
    event = assert_refused(app, client, post(client, b64(xml)), "signature", was)
    assert "Signature validation failed" in event["reason"]


def test_another_key_naming_the_trusted_certificate_in_key_info_is_refused(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    """KeyInfo is not trusted: only the certificates from the metadata are."""
    client = app.test_client()
    xml = idp.response_xml(
        request_id(client, idp), signing_key=idp.make_key_pair(), sign_response=False
    )
    root = parse(xml)
    for node in root.iter(q(DS, "X509Certificate")):
        node.text = idp.cert_b64
    was = before(app)
    assert_refused(app, client, post(client, b64(serialize(root))), "signature", was)


def test_another_idp_cannot_sign_under_our_idps_issuer(
    app: Flask, idp: SamlIdp, beta_idp: SamlIdp, acme: Acme
) -> None:
    client = app.test_client()
    xml = beta_idp.response_xml(
        request_id(client, idp), issuer=idp.entity_id, **as_user(VICTIM)
    )
    was = before(app)
    assert_refused(app, client, post(client, b64(xml)), "signature", was)


# -- 5. changed after signing ----------------------------------------------------------


@pytest.mark.parametrize("part", ["name_id", "email_attribute"])
def test_content_changed_after_signing_is_refused(
    app: Flask, idp: SamlIdp, acme: Acme, part: str
) -> None:
    """Mallory signs in honestly at Okta, then rewrites her answer as the victim's."""
    client = app.test_client()
    root = parse(idp.response_xml(request_id(client, idp), **as_user(MALLORY)))
    assertion = assertion_of(root)
    if part == "name_id":
        only(assertion, "saml:Subject/saml:NameID").text = VICTIM
    else:
        only(
            assertion,
            "saml:AttributeStatement/saml:Attribute[@Name='email']/saml:AttributeValue",
        ).text = VICTIM
    was = before(app)
    assert_refused(app, client, post(client, b64(serialize(root))), "signature", was)
    assert user_row(app, acme.org.id, MALLORY) is None


# -- 6. XML signature wrapping ---------------------------------------------------------


def xsw1(root: etree._Element) -> etree._Element:
    """Evil Response (new ID) whose Signature/Object holds the original Response."""
    original = deepcopy(root)
    evil = root
    evil.set("ID", "_evil-response")
    impersonate(strip_signature(assertion_of(evil)))
    obj = etree.SubElement(signature_of(evil), q(DS, "Object"))
    obj.append(original)
    return evil


def xsw2(root: etree._Element) -> etree._Element:
    """Like XSW1, but the original Response sits before the (detached) Signature."""
    original = deepcopy(root)
    evil = root
    evil.set("ID", "_evil-response")
    impersonate(strip_signature(assertion_of(evil)))
    signature = signature_of(evil)
    signature.addprevious(original)
    return evil


def xsw3(root: etree._Element) -> etree._Element:
    """An evil Assertion with the same ID inserted before the signed one."""
    assertion = assertion_of(root)
    assertion.addprevious(evil_copy(assertion, keep_signature=False))
    return root


def xsw4(root: etree._Element) -> etree._Element:
    """An evil Assertion in its place, the signed one wrapped inside it."""
    assertion = assertion_of(root)
    evil = evil_copy(assertion, keep_signature=False)
    assertion.addprevious(evil)
    evil.append(assertion)
    return root


def xsw5(root: etree._Element) -> etree._Element:
    """Evil Assertion keeps the Signature; an unsigned original goes to the end."""
    assertion = assertion_of(root)
    original = strip_signature(deepcopy(assertion))
    impersonate(assertion)
    root.append(original)
    return root


def xsw6(root: etree._Element) -> etree._Element:
    """Evil Assertion keeps the Signature; the original is inside that Signature."""
    assertion = assertion_of(root)
    original = strip_signature(deepcopy(assertion))
    impersonate(assertion)
    signature_of(assertion).append(original)
    return root


def xsw7(root: etree._Element) -> etree._Element:
    """The signed Assertion moved into samlp:Extensions; an evil one in its place."""
    assertion = assertion_of(root)
    evil = evil_copy(assertion, keep_signature=False)
    assertion.addprevious(evil)
    extensions = etree.Element(q(SAMLP, "Extensions"))
    only(root, "samlp:Status").addprevious(extensions)
    extensions.append(assertion)
    return root


def xsw8(root: etree._Element) -> etree._Element:
    """Evil Assertion keeps the Signature, whose ds:Object holds the original."""
    assertion = assertion_of(root)
    original = strip_signature(deepcopy(assertion))
    impersonate(assertion)
    obj = etree.SubElement(signature_of(assertion), q(DS, "Object"))
    obj.append(original)
    return root


def duplicate_id_on_response(root: etree._Element) -> etree._Element:
    """The Response takes the Assertion's ID (the first element with that ID)."""
    assertion = assertion_of(root)
    root.set("ID", assertion.get("ID", ""))
    impersonate(assertion)
    return root


def duplicate_id_in_extensions(root: etree._Element) -> etree._Element:
    """A foreign element with the Assertion's ID, earlier in the document."""
    assertion = assertion_of(root)
    extensions = etree.Element(q(SAMLP, "Extensions"))
    only(root, "samlp:Status").addprevious(extensions)
    shadow = etree.SubElement(extensions, "{urn:evil}Shadow", ID=assertion.get("ID"))
    shadow.extend(
        deepcopy(child) for child in assertion if child.tag != q(DS, "Signature")
    )
    impersonate(assertion)
    return root


@pytest.mark.parametrize(
    ("wrap", "sign_response", "kind"),
    [
        (xsw1, True, "malformed"),
        (xsw2, True, "malformed"),
        (xsw3, True, "malformed"),
        (xsw4, True, "malformed"),
        (xsw5, False, "malformed"),
        (xsw6, False, "malformed"),
        (xsw7, False, "malformed"),
        (xsw8, False, "malformed"),
        (duplicate_id_on_response, False, "malformed"),
        (duplicate_id_in_extensions, False, "signature"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_signature_wrapping_is_refused(
    app: Flask,
    idp: SamlIdp,
    acme: Acme,
    wrap: Callable[[etree._Element], etree._Element],
    sign_response: bool,
    kind: str,
) -> None:
    """Mallory wraps her own genuinely signed answer around one naming the victim."""
    client = app.test_client()
    xml = idp.response_xml(
        request_id(client, idp), sign_response=sign_response, **as_user(MALLORY)
    )
    attack = serialize(wrap(parse(xml)))
    assert VICTIM.encode() in attack
    was = before(app)
    assert_refused(app, client, post(client, b64(attack)), kind, was)
    assert user_row(app, acme.org.id, MALLORY) is None


# -- 7. comments and processing instructions in the NameID -----------------------------

# exc-c14n leaves comments out, so a comment added after signing keeps the
# signature valid; a parser that reads only the text before it would see
# victim@acme.test (CVE-2017-11427). Processing instructions are dropped alike.
SPLITTERS = {"comment": b"<!---->", "processing-instruction": b"<?gatehouse x?>"}
DECOY = "victim@acme.test.evil.test"


def split_name_id(idp: SamlIdp, in_response_to: str, splitter: bytes) -> bytes:
    """A response honestly signed for DECOY, its NameID and email then split."""
    xml = idp.response_xml(in_response_to, **as_user(DECOY))
    honest = b">" + DECOY.encode() + b"<"
    assert xml.count(honest) == 2  # NameID and the email attribute
    return xml.replace(
        honest, b">" + VICTIM.encode() + splitter + DECOY[len(VICTIM) :].encode() + b"<"
    )


@pytest.mark.parametrize("splitter", sorted(SPLITTERS))
def test_a_split_name_id_never_signs_in_the_victim(
    app: Flask, idp: SamlIdp, acme: Acme, splitter: str
) -> None:
    """Whatever else happens, the signed (whole) NameID is the one read."""
    client = app.test_client()
    xml = split_name_id(idp, request_id(client, idp), SPLITTERS[splitter])
    victim = user_row(app, acme.org.id, VICTIM)
    response = post(client, b64(xml))
    assert response.status_code < 500
    decoy = user_row(app, acme.org.id, DECOY)
    assert signed_in_user_id(app, client) in (None, decoy["id"] if decoy else None)
    assert all(link[1] != acme.victim_id for link in identities(app))
    assert user_row(app, acme.org.id, VICTIM) == victim


@pytest.mark.parametrize("splitter", sorted(SPLITTERS))
def test_a_comment_or_processing_instruction_is_refused(
    app: Flask, idp: SamlIdp, acme: Acme, splitter: str
) -> None:
    client = app.test_client()
    xml = split_name_id(idp, request_id(client, idp), SPLITTERS[splitter])
    was = before(app)
    event = assert_refused(app, client, post(client, b64(xml)), "malformed", was)
    assert "comment or processing instruction" in event["reason"]


# -- 8. replays ------------------------------------------------------------------------


def test_an_sp_initiated_response_is_accepted_once(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    first = app.test_client()
    fields = idp.respond_to(start(first))
    assert post_from_okta(first, fields).status_code == 302
    assert signed_in_user_id(app, first) == acme.victim_id

    attacker = app.test_client()
    was = before(app)
    event = assert_refused(
        app, attacker, post_from_okta(attacker, fields), "unknown_request", was
    )
    assert event["organization_id"] is None
    # The first sign-in is untouched.
    assert signed_in_user_id(app, first) == acme.victim_id
    assert first.get("/members").status_code == 200
    assert len(saml_successes(app)) == 1


def test_a_dashboard_response_is_accepted_once(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    first = app.test_client()
    fields = idp.unsolicited()
    assert post_from_okta(first, fields).status_code == 302
    assert signed_in_user_id(app, first) == acme.victim_id

    attacker = app.test_client()
    was = before(app)
    event = assert_refused(
        app, attacker, post_from_okta(attacker, fields), "replayed", was
    )
    assert event["organization_id"] == acme.org.id
    assert signed_in_user_id(app, first) == acme.victim_id
    assert len(saml_successes(app)) == 1


def test_a_used_response_cannot_come_back_as_a_dashboard_sign_in(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    """Only the assertion is signed, so the Response's InResponseTo can go.

    The assertion still names the request it answered, and a dashboard answer
    must name none: refused as an unknown request before the replay cache is
    even asked.
    """
    first = app.test_client()
    xml = idp.response_xml(request_id(first, idp), sign_response=False)
    assert post(first, b64(xml)).status_code == 302
    root = parse(xml)
    del root.attrib["InResponseTo"]
    attacker = app.test_client()
    was = before(app)
    response = post(attacker, b64(serialize(root)))
    event = assert_refused(app, attacker, response, "unknown_request", was)
    assert "SubjectConfirmationData answers" in event["reason"]
    assert signed_in_user_id(app, first) == acme.victim_id


# -- 9. audience, Destination, Recipient -----------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ({"audience": "https://evil.test"}, "audience"),
        ({"audience": None}, "audience"),
        ({"destination": "https://evil.test/acs"}, "destination"),
        ({"destination": ""}, "destination"),
        ({"destination": ACS_URL + "/../../evil"}, "destination"),
        ({"destination": None, "recipient": "https://evil.test/acs"}, "destination"),
        ({"recipient": "https://evil.test/acs"}, "destination"),
        ({"recipient": "https://evil.test/?x=" + ACS_URL}, "destination"),
        ({"recipient": ACS_URL + "?next=https://evil.test"}, "destination"),
        ({"recipient": None}, "destination"),
    ],
    ids=[
        "wrong-audience",
        "no-audience-restriction",
        "wrong-destination",
        "empty-destination",
        "destination-with-our-acs-as-prefix",
        "no-destination-and-wrong-recipient",
        "wrong-recipient",
        "recipient-with-our-acs-as-substring",
        "recipient-with-our-acs-as-prefix",
        "no-recipient",
    ],
)
def test_an_answer_meant_for_someone_else_is_refused(
    app: Flask, idp: SamlIdp, acme: Acme, overrides: ResponseOverrides, kind: str
) -> None:
    client = app.test_client()
    xml = idp.response_xml(request_id(client, idp), **overrides)
    was = before(app)
    assert_refused(app, client, post(client, b64(xml)), kind, was)


# -- 10. time --------------------------------------------------------------------------

# python3-saml allows 300 s of clock drift on Conditions (not on the bearer
# SubjectConfirmationData); the test IdP dates everything `time_shift` seconds
# from now and makes it valid for `lifetime` (300) seconds.


@pytest.mark.parametrize(
    ("time_shift", "kind"),
    [
        (-3600, "expired"),
        (-900, "expired"),  # ended 10 minutes ago: 5 minutes beyond the skew
        (-360, "expired"),  # ended 1 minute ago: Conditions within the skew,
        # but the bearer confirmation has no skew
        (3600, "not_yet_valid"),
        (600, "not_yet_valid"),  # starts in 10 minutes: 5 minutes beyond the skew
    ],
    ids=[
        "expired-an-hour-ago",
        "expired-beyond-the-skew",
        "expired-within-the-skew",
        "valid-in-an-hour",
        "valid-beyond-the-skew",
    ],
)
def test_an_answer_out_of_its_time_is_refused(
    app: Flask, idp: SamlIdp, acme: Acme, time_shift: int, kind: str
) -> None:
    client = app.test_client()
    xml = idp.response_xml(request_id(client, idp), time_shift=time_shift)
    was = before(app)
    assert_refused(app, client, post(client, b64(xml)), kind, was)


def test_an_idp_clock_two_minutes_ahead_is_within_the_skew(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    """The control for the skew: NotBefore 2 minutes ahead still signs in."""
    client = app.test_client()
    xml = idp.response_xml(request_id(client, idp), time_shift=120)
    assert post(client, b64(xml)).status_code == 302
    assert signed_in_user_id(app, client) == acme.victim_id


def test_an_assertion_that_never_expires_is_refused(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    def forever(root: etree._Element) -> None:
        for element in root.iter(
            q(SAML, "SubjectConfirmationData"), q(SAML, "Conditions")
        ):
            element.attrib.pop("NotOnOrAfter")

    client = app.test_client()
    xml = idp.response_xml(request_id(client, idp), before_signing=forever)
    was = before(app)
    event = assert_refused(app, client, post(client, b64(xml)), "malformed", was)
    assert event["reason"] == "bearer confirmation without NotOnOrAfter"


# -- 11. DTDs --------------------------------------------------------------------------

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE samlp:Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
 xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x" Version="2.0"
 IssueInstant="2030-01-01T00:00:00Z"><saml:Issuer>&xxe;</saml:Issuer></samlp:Response>
"""
LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">'
        % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
        for n in range(1, 10)
    )
    + b"]>\n"
    b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
    b'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x" Version="2.0" '
    b'IssueInstant="2030-01-01T00:00:00Z"><saml:Issuer>&lol9;</saml:Issuer>'
    b"</samlp:Response>"
)


def with_doctype(idp: SamlIdp, in_response_to: str, doctype: bytes) -> bytes:
    """A genuinely signed response with a DOCTYPE after its XML declaration."""
    xml = idp.response_xml(in_response_to)
    declaration, rest = xml.split(b"?>", 1)
    return declaration + b"?>\n" + doctype + rest


def test_a_document_type_declaration_is_refused(
    app: Flask, idp: SamlIdp, acme: Acme, subtests: pytest.Subtests
) -> None:
    client = app.test_client()
    pending = request_id(client, idp)
    documents = {
        "external-entity": XXE,
        "entity-expansion": LAUGHS,
        "signed-with-bare-doctype": with_doctype(
            idp, pending, b"<!DOCTYPE saml2p:Response>"
        ),
        "signed-with-internal-entity": with_doctype(
            idp, pending, b'<!DOCTYPE saml2p:Response [<!ENTITY v "victim">]>'
        ),
    }
    for name, xml in documents.items():
        with subtests.test(document=name):
            was = before(app)
            event = assert_refused(
                app, client, post(client, b64(xml)), "malformed", was
            )
            assert "root:" not in event["reason"]  # nothing of /etc/passwd was read


# -- 12. SHA-1 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [{"sign_alg": SIG_RSA_SHA1}, {"digest_alg": DIGEST_SHA1}],
    ids=["rsa-sha1-signature", "sha1-digest"],
)
def test_sha1_is_refused(
    app: Flask, idp: SamlIdp, acme: Acme, overrides: ResponseOverrides
) -> None:
    client = app.test_client()
    xml = idp.response_xml(request_id(client, idp), **overrides)
    was = before(app)
    response = post(client, b64(xml))
    event = assert_refused(app, client, response, "weak_algorithm", was)
    assert "Deprecated" in event["reason"]
    assert "set Signature Algorithm RSA-SHA256" in response.text


# -- 13. across organizations ----------------------------------------------------------

CAROL = "carol@beta.test"


@dataclass(frozen=True)
class Beta:
    """Beta, connected to `beta_idp`, and its SCIM-provisioned member Carol."""

    org: OrgInfo
    carol_id: int


@pytest.fixture
def beta(app: Flask, beta_idp: SamlIdp, acme: Acme) -> Beta:
    """A second organization with its own Okta (Acme exists too)."""
    org = make_org(app, "Beta")
    connect_cli(app, org, beta_idp)
    carol_id = make_user(app, org.id, CAROL, source="scim", password=None)
    beta_idp.user = person(CAROL)
    return Beta(org, carol_id)


def test_betas_idp_cannot_answer_acmes_request(
    app: Flask, idp: SamlIdp, beta_idp: SamlIdp, acme: Acme, beta: Beta
) -> None:
    client = app.test_client()
    xml = beta_idp.response_xml(request_id(client, idp), **as_user(VICTIM))
    was = before(app)
    event = assert_refused(app, client, post(client, b64(xml)), "issuer", was)
    assert event["organization_id"] == acme.org.id
    assert beta_idp.entity_id in event["reason"]


def test_betas_idp_cannot_pose_as_acmes(
    app: Flask, idp: SamlIdp, beta_idp: SamlIdp, acme: Acme, beta: Beta
) -> None:
    """Beta's key (trusted, for Beta) signs a dashboard answer in Acme's name."""
    client = app.test_client()
    xml = beta_idp.response_xml(None, issuer=idp.entity_id, **as_user(VICTIM))
    was = before(app)
    event = assert_refused(app, client, post(client, b64(xml)), "signature", was)
    assert event["organization_id"] == acme.org.id


def test_a_response_issuer_cannot_route_an_assertion_of_another_idp(
    app: Flask, idp: SamlIdp, beta_idp: SamlIdp, acme: Acme, beta: Beta
) -> None:
    """Beta's signed assertion, its unsigned Response relabelled as Acme's."""
    client = app.test_client()
    root = parse(beta_idp.response_xml(None, sign_response=False, **as_user(VICTIM)))
    only(root, "saml:Issuer").text = idp.entity_id
    was = before(app)
    event = assert_refused(
        app, client, post(client, b64(serialize(root))), "issuer", was
    )
    assert event["organization_id"] == acme.org.id


@pytest.mark.parametrize("direction", ["beta-answer-to-acme", "acme-answer-to-beta"])
def test_an_answer_cannot_be_pointed_at_the_other_organizations_request(
    app: Flask,
    idp: SamlIdp,
    beta_idp: SamlIdp,
    acme: Acme,
    beta: Beta,
    direction: str,
) -> None:
    """A genuine answer to one org's request, its InResponseTo switched."""
    client = app.test_client()
    acme_request = request_id(client, idp, "Acme")
    beta_request = request_id(client, beta_idp, "Beta")
    if direction == "beta-answer-to-acme":
        xml = beta_idp.response_xml(beta_request, sign_response=False)
        target, target_org = acme_request, acme.org.id
    else:
        xml = idp.response_xml(acme_request, sign_response=False)
        target, target_org = beta_request, beta.org.id
    root = parse(xml)
    root.set("InResponseTo", target)
    was = before(app)
    event = assert_refused(
        app, client, post(client, b64(serialize(root))), "issuer", was
    )
    assert event["organization_id"] == target_org


def test_a_dashboard_answer_lands_only_in_its_own_organization(
    app: Flask, idp: SamlIdp, acme: Acme, beta: Beta
) -> None:
    """Acme's Okta vouching for an address that exists only in Beta."""
    client = app.test_client()
    response = post(client, b64(idp.response_xml(None, **as_user(CAROL))))
    assert response.status_code == 302, response.text
    in_acme = user_row(app, acme.org.id, CAROL)
    assert in_acme is not None and in_acme["source"] == "sso"
    assert signed_in_user_id(app, client) == in_acme["id"] != beta.carol_id
    assert [link[:2] for link in identities(app)] == [(acme.org.id, in_acme["id"])]
    assert all(event["organization_id"] == acme.org.id for event in saml_successes(app))


# -- 14. InResponseTo games ------------------------------------------------------------


def scd(root: etree._Element) -> etree._Element:
    """The assertion's bearer SubjectConfirmationData."""
    return only(
        root,
        ".//saml:Assertion/saml:Subject/saml:SubjectConfirmation/"
        "saml:SubjectConfirmationData",
    )


@pytest.mark.parametrize(
    "in_response_to", ["_never-sent", "_" + "x" * 200], ids=["unknown", "too-long"]
)
def test_an_answer_to_an_unknown_request_is_refused(
    app: Flask, idp: SamlIdp, acme: Acme, in_response_to: str
) -> None:
    client = app.test_client()
    request_id(client, idp)  # a real pending request, not the one answered
    xml = idp.response_xml(in_response_to)
    was = before(app)
    event = assert_refused(app, client, post(client, b64(xml)), "unknown_request", was)
    assert event["organization_id"] is None


def test_an_answer_cannot_be_moved_to_another_pending_request(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    """The victim's answer, relabelled as the answer to the attacker's request.

    Only the assertion is signed, so the Response's InResponseTo can be changed;
    the attacker's request could carry their emailed link token or next URL.
    The SubjectConfirmationData still names the victim's request, so
    python3-saml finds no valid SubjectConfirmation, and Gatehouse says why.
    """
    victim, attacker = app.test_client(), app.test_client()
    victims_request = request_id(victim, idp)
    attackers_request = request_id(attacker, idp)
    root = parse(idp.response_xml(victims_request, sign_response=False))
    root.set("InResponseTo", attackers_request)
    was = before(app)
    event = assert_refused(
        app, attacker, post(attacker, b64(serialize(root))), "unknown_request", was
    )
    assert event["organization_id"] == acme.org.id
    assert_nobody_signed_in(app, victim)


def test_an_sp_initiated_answer_stripped_of_in_response_to_is_refused(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    client = app.test_client()
    root = parse(idp.response_xml(request_id(client, idp), sign_response=False))
    del root.attrib["InResponseTo"]
    assert scd(root).get("InResponseTo")
    was = before(app)
    answer = post(client, b64(serialize(root)))
    event = assert_refused(app, client, answer, "unknown_request", was)
    assert "SubjectConfirmationData answers" in event["reason"]


def test_a_dashboard_answer_claiming_a_request_in_its_assertion_is_refused(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    def claim(root: etree._Element) -> None:
        scd(root).set("InResponseTo", "_some-request")

    client = app.test_client()
    xml = idp.response_xml(None, before_signing=claim)
    was = before(app)
    event = assert_refused(app, client, post(client, b64(xml)), "unknown_request", was)
    assert (
        event["reason"] == "SubjectConfirmationData answers '_some-request', not None"
    )


# -- 15. unreadable input --------------------------------------------------------------

RESPONSE_OPEN = (
    b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
    b'ID="_big" Version="2.0" IssueInstant="2030-01-01T00:00:00Z">'
)


def two_assertions(idp: SamlIdp) -> str:
    root = parse(idp.response_xml(None))
    second = deepcopy(assertion_of(root))
    second.set("ID", "_second")
    root.append(second)
    return b64(serialize(root))


def bare_assertion(idp: SamlIdp) -> str:
    return b64(serialize(assertion_of(parse(idp.response_xml(None)))))


def encrypted_assertion(idp: SamlIdp) -> str:
    root = parse(idp.response_xml(None, sign_response=False))
    assertion = assertion_of(root)
    encrypted = etree.Element(q(SAML, "EncryptedAssertion"))
    data = etree.SubElement(encrypted, q(XENC, "EncryptedData"))
    etree.SubElement(
        etree.SubElement(data, q(XENC, "CipherData")), q(XENC, "CipherValue")
    ).text = base64.b64encode(b"\0" * 64).decode()
    assertion.addprevious(encrypted)
    root.remove(assertion)
    return b64(serialize(root))


UNREADABLE: dict[str, Callable[[SamlIdp], str]] = {
    "not-base64": lambda idp: "%%% this is not base64 %%%",
    "empty": lambda idp: "",
    "not-xml": lambda idp: b64(b"\x00\xff\xfe not xml at all"),
    "huge": lambda idp: b64(RESPONSE_OPEN + b" " * (300 * 1024) + b"</samlp:Response>"),
    "deeply-nested": lambda idp: b64(b"<a>" * 5000 + b"</a>" * 5000),
    "authn-request": lambda idp: b64(
        b'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        b'ID="_r" Version="2.0" IssueInstant="2030-01-01T00:00:00Z"/>'
    ),
    "bare-signed-assertion": bare_assertion,
    "logout-response": lambda idp: b64(
        b'<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        b'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_l" Version="2.0" '
        b'IssueInstant="2030-01-01T00:00:00Z" Destination="' + ACS_URL.encode() + b'">'
        b"<saml:Issuer>" + idp.entity_id.encode() + b"</saml:Issuer>"
        b'<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:'
        b'status:Success"/></samlp:Status></samlp:LogoutResponse>'
    ),
    "two-assertions": two_assertions,
    "encrypted-assertion": encrypted_assertion,
}


def test_unreadable_input_is_refused_without_an_error(
    app: Flask, idp: SamlIdp, acme: Acme, subtests: pytest.Subtests
) -> None:
    for case, build in UNREADABLE.items():
        with subtests.test(case=case):
            raw = build(idp)
            client = app.test_client()
            was = before(app)
            assert_refused(app, client, post(client, raw), "malformed", was)


def test_a_body_far_beyond_the_response_limit_is_not_read(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    client = app.test_client()
    was = before(app)
    response = post(client, "A" * (4 * 1024 * 1024))
    assert response.status_code == 413
    assert len(refusals(app)) == was.refusals
    assert state(app) == was.state
    assert_nobody_signed_in(app, client)


def drop_name_id(root: etree._Element) -> None:
    name_id = only(root, ".//saml:Subject/saml:NameID")
    name_id.getparent().remove(name_id)


def empty_name_id(root: etree._Element) -> None:
    only(root, ".//saml:Subject/saml:NameID").text = ""


def foreign_sp_name_qualifier(root: etree._Element) -> None:
    only(root, ".//saml:Subject/saml:NameID").set(
        "SPNameQualifier", "https://evil.test"
    )


def duplicate_email_attribute(root: etree._Element) -> None:
    statement = only(root, ".//saml:AttributeStatement")
    statement.append(deepcopy(only(statement, "saml:Attribute[@Name='email']")))


@pytest.mark.parametrize(
    ("edit", "kind"),
    [
        (drop_name_id, "malformed"),
        (empty_name_id, "malformed"),
        (foreign_sp_name_qualifier, "invalid"),
        (duplicate_email_attribute, "malformed"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_a_signed_assertion_python3_saml_rejects_late_is_refused(
    app: Flask,
    idp: SamlIdp,
    acme: Acme,
    edit: Callable[[etree._Element], None],
    kind: str,
) -> None:
    client = app.test_client()
    xml = idp.response_xml(request_id(client, idp), before_signing=edit)
    was = before(app)
    assert_refused(app, client, post(client, b64(xml)), kind, was)


# -- 16. byte flips --------------------------------------------------------------------


def test_single_byte_flips_in_a_signed_assertion_never_sign_anyone_in(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    """Every byte of the assertion is covered by a signature: no flip may pass.

    Whitespace is left alone (exclusive c14n normalizes some of it), and so are
    namespace declarations: exclusive c14n drops those only QName values such as
    xsi:type="xs:string" use, so renaming a redundant one keeps the signature
    valid (and harmlessly signs in).
    """
    xml = idp.response_xml(None)
    first = xml.index(b"<saml2:Assertion")
    last = xml.index(b"</saml2:Assertion>") + len(b"</saml2:Assertion>")
    declarations = [
        range(at, xml.index(b'"', xml.index(b'"', at) + 1) + 1)
        for at in _find_all(xml, b"xmlns", first, last)
    ]
    positions = [
        at
        for at in range(first, last)
        if not chr(xml[at]).isspace() and not any(at in r for r in declarations)
    ]
    rng = random.Random(20240505)
    was = before(app)
    for at in rng.sample(positions, 30):
        flipped = bytearray(xml)
        flipped[at] ^= rng.randrange(1, 256)
        client = app.test_client()
        response = post(client, b64(bytes(flipped)))
        assert 400 <= response.status_code < 500, (at, xml[at - 20 : at + 20])
        assert signed_in_user_id(app, client) is None, (at, xml[at - 20 : at + 20])
    assert len(refusals(app)) == was.refusals + 30
    assert state(app) == was.state
    assert saml_successes(app) == []


def _find_all(data: bytes, needle: bytes, start: int, end: int) -> list[int]:
    """Offsets of `needle` in data[start:end]."""
    found = []
    at = data.find(needle, start, end)
    while at != -1:
        found.append(at)
        at = data.find(needle, at + 1, end)
    return found


# -- 17. found in review: expensive signatures, CSRF, reservation, floods -----------

XPATH_TRANSFORM = "http://www.w3.org/TR/1999/REC-xpath-19991116"
INCLUSIVE_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"


def add_xpath_transform(root: etree._Element) -> etree._Element:
    """An XPath transform that makes xmlsec walk every node for every node."""
    transforms = only(assertion_of(root), "ds:Signature/ds:SignedInfo/ds:Reference")
    transforms = only(transforms, "ds:Transforms")
    transform = etree.SubElement(transforms, q(DS, "Transform"))
    transform.set("Algorithm", XPATH_TRANSFORM)
    etree.SubElement(transform, q(DS, "XPath")).text = "count(//. | //@*) > 0"
    return root


def inclusive_canonicalization(root: etree._Element) -> etree._Element:
    method = only(
        assertion_of(root), "ds:Signature/ds:SignedInfo/ds:CanonicalizationMethod"
    )
    method.set("Algorithm", INCLUSIVE_C14N)
    return root


def two_references(root: etree._Element) -> etree._Element:
    reference = only(assertion_of(root), "ds:Signature/ds:SignedInfo/ds:Reference")
    reference.addnext(deepcopy(reference))
    return root


def three_signatures(root: etree._Element) -> etree._Element:
    signature = signature_of(assertion_of(root))
    statement = only(assertion_of(root), "saml:AttributeStatement")
    statement.append(deepcopy(signature))
    return root


def padding(root: etree._Element) -> etree._Element:
    """Twelve thousand empty elements in an attribute value (Okta sends ~60)."""
    value = only(root, ".//saml:Attribute[@Name='firstName']/saml:AttributeValue")
    for _ in range(12_000):
        etree.SubElement(value, "p")
    return root


@pytest.mark.parametrize(
    "edit",
    [
        add_xpath_transform,
        inclusive_canonicalization,
        two_references,
        three_signatures,
        padding,
    ],
    ids=lambda edit: edit.__name__,
)
def test_signatures_okta_never_sends_are_refused_before_verifying(
    app: Flask, idp: SamlIdp, acme: Acme, edit: Any
) -> None:
    client = app.test_client()
    root = edit(parse(idp.response_xml(request_id(client, idp))))
    was = before(app)
    event = assert_refused(
        app, client, post(client, b64(serialize(root))), "malformed", was
    )
    # Refused by the shape check, before python3-saml or xmlsec saw it.
    assert any(
        words in event["reason"] for words in ("signature", "XML nodes", "signatures")
    ), event["reason"]


def test_an_okta_shaped_signature_with_an_inclusive_namespaces_list_passes(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    """The shape check leaves Okta's own form alone (ec:InclusiveNamespaces)."""
    client = app.test_client()
    xml = idp.response_xml(request_id(client, idp))
    assert b"InclusiveNamespaces" in xml or b"xml-exc-c14n" in xml
    assert post(client, b64(xml)).status_code == 302
    assert signed_in_user_id(app, client) == acme.victim_id


def test_an_emailed_link_cannot_be_completed_in_someone_elses_browser(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    """Mallory starts the link flow for her account and hands the Okta URL to Vic.

    Vic signs in at Okta; his answer must not bind his Okta identity to
    Mallory's account (nor sign his browser in as Mallory).
    """
    mallory_id = make_user(app, acme.org.id, MALLORY)
    with app.app_context():
        user = db.session.get(User, mallory_id)
        assert user is not None
        token = linking.issue_link_token(user)
        db.session.commit()
    mallory, vic = app.test_client(), app.test_client()
    response = mallory.post(f"/okta/link/{token}")
    assert response.status_code == 302
    okta_url = response.headers["Location"]
    fields = idp.respond_to(okta_url)  # the IdP signs Vic (the victim) in
    was = before(app)
    answer = post_from_okta(vic, fields)
    assert_refused(app, vic, answer, "other_browser", was)
    assert identities(app) == []
    assert_nobody_signed_in(app, mallory)


def test_an_attackers_own_answer_cannot_be_posted_from_a_victims_browser(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    """Login CSRF: Mallory's genuine SP-initiated answer, auto-posted by Vic."""
    mallory, vic = app.test_client(), app.test_client()
    idp.user = person(MALLORY)
    fields = idp.respond_to(start(mallory))
    was = before(app)
    assert_refused(app, vic, post_from_okta(vic, fields), "other_browser", was)
    assert user_row(app, acme.org.id, MALLORY) is None


def test_dashboard_off_cannot_be_walked_around_with_a_grafted_request(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    """Dashboard sign-in off: an unsolicited assertion given a request's ID."""
    with app.app_context():
        org = db.session.get(Organization, acme.org.id)
        assert org is not None
        sso.set_idp_initiated(org, False, actor="cli")
    client = app.test_client()
    pending = request_id(client, idp)
    root = parse(idp.response_xml(None, sign_response=False))
    root.set("InResponseTo", pending)
    was = before(app)
    assert_refused(
        app, client, post(client, b64(serialize(root))), "unknown_request", was
    )


def test_a_holder_of_key_confirmation_with_an_odd_date_is_no_500(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    def odd(root: etree._Element) -> None:
        confirmation = only(root, ".//saml:SubjectConfirmation")
        confirmation.set("Method", "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")
        only(confirmation, "saml:SubjectConfirmationData").set(
            "NotOnOrAfter", "2030-01-01T00:00:00+00:00"
        )

    client = app.test_client()
    xml = idp.response_xml(
        request_id(client, idp),
        before_signing=odd,
        sign_assertion=False,
        sign_response=False,
    )
    was = before(app)
    event = assert_refused(app, client, post(client, b64(xml)), "invalid", was)
    assert "SubjectConfirmation was not found" in event["reason"]


def test_an_okta_app_stays_reserved_to_its_organization_after_disconnecting(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    runner = app.test_cli_runner()
    assert runner.invoke(args=["sso", "disable", "--org", "Acme"]).exit_code == 0
    make_org(app, "Beta")
    result = runner.invoke(
        args=["sso", "set-saml", "--org", "Beta", "--metadata-url", idp.metadata_url]
    )
    assert result.exit_code == 1
    assert "already connected to another Gatehouse organization" in result.output
    # Acme's dashboard tile therefore never lands in Beta; Acme can come back.
    result = runner.invoke(
        args=["sso", "set-saml", "--org", "Acme", "--metadata-url", idp.metadata_url]
    )
    assert result.exit_code == 0, result.output


def test_an_okta_app_is_released_only_on_purpose_and_not_while_in_use(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    runner = app.test_cli_runner()
    beta = make_org(app, "Beta")
    was = snapshot(app)
    result = runner.invoke(args=["sso", "release-saml-app", "--org", "Acme"])
    assert result.exit_code == 1
    assert "switch it to OIDC or None first" in result.output
    assert snapshot(app) == was

    assert runner.invoke(args=["sso", "disable", "--org", "Acme"]).exit_code == 0
    result = runner.invoke(args=["sso", "release-saml-app", "--org", "Acme"])
    assert result.exit_code == 0, result.output
    assert f"Released the Okta app {idp.entity_id} from 'Acme'." in result.output
    result = runner.invoke(args=["sso", "release-saml-app", "--org", "Acme"])
    assert "'Acme' has no Okta SAML app." in result.output

    result = runner.invoke(
        args=["sso", "set-saml", "--org", "Beta", "--metadata-url", idp.metadata_url]
    )
    assert result.exit_code == 0, result.output
    # A dashboard sign-in from that app now lands in Beta, not in Acme.
    client = app.test_client()
    idp.user = person("newcomer@beta.test")
    assert post(client, b64(idp.response_xml(None))).status_code == 302
    assert user_row(app, acme.org.id, "newcomer@beta.test") is None
    assert user_row(app, beta.id, "newcomer@beta.test") is not None


def test_the_database_refuses_two_organizations_one_okta_app(
    app: Flask, idp: SamlIdp, acme: Acme
) -> None:
    """What settles two admins saving the same app at the same moment."""
    beta = make_org(app, "Beta")
    with app.app_context():
        org = db.session.get(Organization, beta.id)
        assert org is not None
        organizations.sso_config_for(org).saml_entity_id = idp.entity_id
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_refused_answers_are_throttled_per_address_with_one_counted_audit_row(
    tmp_path: Path, idp: SamlIdp
) -> None:
    app = make_app(
        tmp_path / "throttled",
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        SAML_MAX_FAILURES_PER_ADDRESS=3,
    )
    org = make_org(app)
    connect_cli(app, org, idp)
    client = app.test_client()
    for _ in range(3):
        assert post(client, "not base64!").status_code == 400
    assert len(refusals(app)) == 3
    for _ in range(20):
        answer = post(client, b64(idp.response_xml(None)))  # even an honest one
        assert answer.status_code == 429
        assert "Too many sign-in attempts" in answer.get_data(as_text=True)
    # The flood is one row (no organization: the body is not read) with a count.
    throttled = refusals(app)[3:]
    assert [(e["failure"], e["organization_id"]) for e in throttled] == [
        ("throttled", None)
    ]
    with app.app_context():
        counts = db.session.execute(
            db.select(AuditEvent.repeat_count).order_by(AuditEvent.id)
        ).scalars()
        assert list(counts)[-1] == 20
    assert_nobody_signed_in(app, client)
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert post(other, b64(idp.response_xml(None))).status_code == 302
    with app.app_context():
        db.engine.dispose()
