"""Guards for the python3-saml / xmlsec / lxml trio, and for the test IdP itself.

python3-saml==1.16.0, xmlsec==1.3.17 and lxml==6.1.3 are pinned together
(requirements.txt): xmlsec and lxml must load the same libxml2, and python3-saml
must still verify what a real IdP signs. Every bump of any of them runs these.

The IdP is `tests.support.saml_idp.SamlIdp` (pysaml2 signing with xmlsec1): an
independent implementation, so python3-saml accepting its responses, and
refusing them once they are tampered with, says something about both.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import xmlsec
from lxml import etree
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from tests.support.saml_idp import SamlIdp
from tests.support.saml_idp_identity import MetadataOptions
from tests.support.saml_idp_protocol import SamlIdpError
from tests.support.saml_keys import KeyPair
from tests.support.saml_xml import DIGEST_SHA1
from tests.support.saml_xml import NAMEID_EMAIL
from tests.support.saml_xml import SIG_RSA_SHA1
from tests.support.saml_xml import STATUS_REQUEST_DENIED
from tests.support.saml_xml import STATUS_RESPONDER

SP_ENTITY_ID = "https://gatehouse.test"
ACS_PATH = "/api/v1/auth/login/okta/callback"
ACS_URL = SP_ENTITY_ID + ACS_PATH
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamlIdp]:
    """One started IdP for the tests that do not change it."""
    with SamlIdp(SP_ENTITY_ID, ACS_URL, tmp_dir=tmp_path_factory.mktemp("idp")) as idp:
        yield idp


@pytest.fixture(scope="module")
def settings(idp: SamlIdp) -> OneLogin_Saml2_Settings:
    """SP settings for `idp`, from its metadata."""
    return settings_for(idp)


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """A key pair no metadata mentions."""
    return KeyPair.generate(tmp_path_factory.mktemp("stranger"), "stranger")


def sp_settings(idp_settings: dict[str, Any]) -> OneLogin_Saml2_Settings:
    """A strict python3-saml SP shaped like ours, trusting `idp_settings`."""
    return OneLogin_Saml2_Settings(
        {
            "strict": True,
            "debug": False,
            "sp": {
                "entityId": SP_ENTITY_ID,
                "assertionConsumerService": {"url": ACS_URL, "binding": BINDING_POST},
                "NameIDFormat": NAMEID_EMAIL,
            },
            "idp": idp_settings,
            "security": {
                "authnRequestsSigned": False,
                "wantMessagesSigned": False,
                "wantAssertionsSigned": True,
                "wantNameId": True,
                "requestedAuthnContext": False,
                "rejectDeprecatedAlgorithm": True,
                "signatureAlgorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                "digestAlgorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
            },
        },
        sp_validation_only=True,
    )


def settings_for(idp: SamlIdp) -> OneLogin_Saml2_Settings:
    """SP settings from the IdP's metadata, fetched over HTTP as the app does."""
    parsed = OneLogin_Saml2_IdPMetadataParser.parse_remote(idp.metadata_url)
    return sp_settings(parsed["idp"])


def request_data(post_data: dict[str, str] | None = None) -> dict[str, Any]:
    """python3-saml's view of a request to our ACS URL."""
    return {
        "https": "on",
        "http_host": "gatehouse.test",
        "script_name": ACS_PATH,
        "get_data": {},
        "post_data": post_data or {},
    }


def sign_in_redirect(settings: OneLogin_Saml2_Settings) -> tuple[str, str]:
    """The URL python3-saml sends the browser to, and its AuthnRequest's ID."""
    auth = OneLogin_Saml2_Auth(request_data(), old_settings=settings)
    location = auth.login(return_to="https://gatehouse.test/after")
    return location, auth.get_last_request_id()


def accept(
    settings: OneLogin_Saml2_Settings, fields: dict[str, str], request_id: str | None
) -> OneLogin_Saml2_Response:
    """python3-saml's strict checks of a posted response; raises if refused."""
    response = OneLogin_Saml2_Response(settings, fields["SAMLResponse"])
    assert response.is_valid(
        request_data(fields), request_id=request_id, raise_exceptions=True
    )
    return response


def decoded(fields: dict[str, str]) -> etree._Element:
    """The posted SAMLResponse as an XML element."""
    return etree.fromstring(base64.b64decode(fields["SAMLResponse"]))


# -- the trio ------------------------------------------------------------------


def test_xmlsec_and_lxml_load_the_same_libxml2() -> None:
    """The classic "lxml & xmlsec libxml2 library version mismatch" guard."""
    assert xmlsec.get_libxml_version() == etree.LIBXML_VERSION
    assert xmlsec.get_libxmlsec_version() >= (1, 2, 0)


def test_python3_saml_verifies_a_pysaml2_signed_assertion(
    idp: SamlIdp, stranger: KeyPair
) -> None:
    """Assertion signature (Okta's default): genuine, tampered, other cert."""
    xml = idp.response_xml("ONELOGIN_1", sign_response=False)
    assertion_sig = "/samlp:Response/saml:Assertion/ds:Signature"
    assert OneLogin_Saml2_Utils.validate_sign(
        xml, cert=idp.cert_pem, xpath=assertion_sig, raise_exceptions=True
    )

    root = etree.fromstring(xml)
    # A round trip through lxml alone changes nothing that is signed.
    untouched = etree.tostring(root)
    assert OneLogin_Saml2_Utils.validate_sign(untouched, cert=idp.cert_pem)

    name_id = root.find(".//saml:Subject/saml:NameID", NS)
    assert name_id is not None and name_id.text == "ann@acme.test"
    name_id.text = "b" + name_id.text[1:]
    tampered = etree.tostring(root)
    assert not OneLogin_Saml2_Utils.validate_sign(tampered, cert=idp.cert_pem)

    other_cert = stranger.cert_pem.decode("ascii")
    assert not OneLogin_Saml2_Utils.validate_sign(xml, cert=other_cert)


def test_python3_saml_verifies_the_response_signature_too(idp: SamlIdp) -> None:
    """Both signed: the response's signature (over the signed assertion) holds."""
    xml = idp.response_xml("ONELOGIN_2")
    root = etree.fromstring(xml)
    assert len(root.findall("ds:Signature", NS)) == 1
    assert len(root.findall("saml:Assertion/ds:Signature", NS)) == 1
    assert OneLogin_Saml2_Utils.validate_sign(
        xml, cert=idp.cert_pem, xpath="/samlp:Response/ds:Signature"
    )


# -- the harness: metadata -------------------------------------------------------


def test_metadata_over_http_parses(idp: SamlIdp) -> None:
    """python3-saml reads entity ID, the Redirect SSO URL and the cert."""
    parsed = OneLogin_Saml2_IdPMetadataParser.parse_remote(idp.metadata_url)
    assert parsed["idp"] == {
        "entityId": idp.entity_id,
        "singleSignOnService": {"url": idp.sso_url, "binding": BINDING_REDIRECT},
        "x509cert": idp.cert_b64,
    }
    assert idp.entity_id.startswith("http://www.okta.com/exk")
    assert idp.sso_url == idp.base_url + "/sso/redirect"
    assert idp.base_url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    ("options", "expected_keys"),
    [
        ({"include_signing_cert": False}, {"entityId", "singleSignOnService"}),
        ({"binding_redirect": False}, {"entityId", "x509cert"}),
        (
            {"binding_post": False},
            {"entityId", "singleSignOnService", "x509cert"},
        ),
    ],
    ids=["no-key-descriptor", "no-redirect-sso", "no-post-sso"],
)
def test_metadata_options_change_what_is_served(
    idp: SamlIdp, options: MetadataOptions, expected_keys: set[str]
) -> None:
    """`metadata_options` is what GET /metadata serves."""
    idp.metadata_options = options
    try:
        parsed = OneLogin_Saml2_IdPMetadataParser.parse_remote(idp.metadata_url)
        assert set(parsed["idp"]) == expected_keys
    finally:
        idp.reset()


def test_served_metadata_and_status_override(idp: SamlIdp) -> None:
    """Garbage or an error status can be served instead of the metadata."""
    fetches = idp.metadata_fetches
    try:
        idp.served_metadata = b"<html>not metadata</html>"
        answer = requests.get(idp.metadata_url, timeout=5)
        assert answer.content == b"<html>not metadata</html>"
        with pytest.raises(Exception, match="Not valid IdP XML"):
            OneLogin_Saml2_IdPMetadataParser.parse_remote(idp.metadata_url)
        idp.served_metadata = None
        idp.metadata_status = 503
        assert requests.get(idp.metadata_url, timeout=5).status_code == 503
        assert idp.metadata_fetches == fetches + 3
    finally:
        idp.reset()


def test_rotation_lists_both_certs_and_either_key_verifies(
    tmp_path: Path, stranger: KeyPair
) -> None:
    """Mid-rotation metadata holds new and old cert; python3-saml takes both."""
    with SamlIdp(SP_ENTITY_ID, ACS_URL, tmp_dir=tmp_path) as idp:
        old = idp.signing_key
        idp.rotate_key()
        new = idp.signing_key
        assert new != old

        parsed = OneLogin_Saml2_IdPMetadataParser.parse_remote(idp.metadata_url)
        assert "x509cert" not in parsed["idp"]
        assert parsed["idp"]["x509certMulti"] == {
            "signing": [new.cert_b64, old.cert_b64]
        }
        settings = sp_settings(parsed["idp"])
        for key in (new, old):
            accept(settings, idp.unsolicited(signing_key=key), None)
        with pytest.raises(OneLogin_Saml2_ValidationError):
            accept(settings, idp.unsolicited(signing_key=stranger), None)

        idp.finish_rotation()
        parsed = OneLogin_Saml2_IdPMetadataParser.parse_remote(idp.metadata_url)
        assert parsed["idp"]["x509cert"] == new.cert_b64


def test_extra_certs_are_listed(idp: SamlIdp, stranger: KeyPair) -> None:
    """`extra_certs` (PEM or base64) join the signing KeyDescriptors."""
    xml = idp.metadata_xml(extra_certs=[stranger.cert_pem.decode("ascii")])
    parsed = OneLogin_Saml2_IdPMetadataParser.parse(xml)
    assert parsed["idp"]["x509certMulti"] == {
        "signing": [idp.cert_b64, stranger.cert_b64]
    }


# -- the harness: SP-initiated sign-in ------------------------------------------


def test_respond_to_answers_the_authn_request(
    idp: SamlIdp, settings: OneLogin_Saml2_Settings
) -> None:
    """InResponseTo is the request's ID; a strict python3-saml SP accepts it."""
    location, request_id = sign_in_redirect(settings)

    fields = idp.respond_to(location)

    received = idp.requests[-1]
    assert received.id == request_id
    assert received.issuer == SP_ENTITY_ID
    assert received.destination == idp.sso_url
    assert received.acs_url == ACS_URL
    assert received.name_id_format == NAMEID_EMAIL
    assert received.relay_state == "https://gatehouse.test/after"
    assert b"AuthnRequest" in received.xml
    assert fields["RelayState"] == "https://gatehouse.test/after"

    root = decoded(fields)
    assert root.get("InResponseTo") == request_id
    confirmation = root.find(".//saml:SubjectConfirmationData", NS)
    assert confirmation is not None
    assert confirmation.get("InResponseTo") == request_id
    assert confirmation.get("Recipient") == ACS_URL

    response = accept(settings, fields, request_id)
    assert response.get_nameid() == "ann@acme.test"
    assert response.get_nameid_format() == NAMEID_EMAIL
    assert response.get_issuers() == [idp.entity_id]
    assert response.get_attributes() == {
        "firstName": ["Ann"],
        "lastName": ["Lee"],
        "email": ["ann@acme.test"],
    }


@pytest.mark.parametrize(
    ("overrides", "refusal"),
    [
        pytest.param({"time_shift": -3600}, "timestamp: expired", id="expired"),
        pytest.param({"time_shift": 3600}, "not yet valid", id="not-yet-valid"),
        pytest.param(
            {"audience": "https://other.test"}, "not a valid audience", id="audience"
        ),
        pytest.param(
            {"signing_key": "stranger"}, "Signature validation failed", id="other-key"
        ),
        pytest.param(
            {"sign_alg": SIG_RSA_SHA1}, "Deprecated signature algorithm", id="rsa-sha1"
        ),
        pytest.param(
            {"digest_alg": DIGEST_SHA1}, "Deprecated digest algorithm", id="sha1-digest"
        ),
        pytest.param(
            {"sign_assertion": False},
            "Assertion .* not signed",
            id="unsigned-assertion",
        ),
        pytest.param(
            {"destination": "https://other.test/acs"},
            "instead of https://other.test/acs",
            id="destination",
        ),
        pytest.param(
            {"recipient": "https://other.test/acs"},
            "valid SubjectConfirmation was not found",
            id="recipient",
        ),
        pytest.param(
            {"in_response_to": "ONELOGIN_other"},
            "InResponseTo of the Response: ONELOGIN_other",
            id="in-response-to",
        ),
        pytest.param(
            {"issuer": "http://www.okta.com/exkSomeoneElse"},
            "Invalid issuer",
            id="issuer",
        ),
        pytest.param(
            {"status": STATUS_RESPONDER, "sub_status": STATUS_REQUEST_DENIED},
            "was Responder -> urn:oasis:names:tc:SAML:2.0:status:RequestDenied",
            id="request-denied",
        ),
    ],
)
def test_strict_python3_saml_refuses_a_dishonest_response(
    idp: SamlIdp,
    settings: OneLogin_Saml2_Settings,
    stranger: KeyPair,
    overrides: dict[str, Any],
    refusal: str,
) -> None:
    """Each override makes an otherwise good response unacceptable, for its reason.

    (A response without AudienceRestriction is *accepted* by python3-saml: the
    element is optional in SAML, so requiring it is the app's business.)
    """
    location, request_id = sign_in_redirect(settings)
    # Parameters are made before fixtures: "stranger" stands for that key pair.
    if overrides.get("signing_key") == "stranger":
        overrides = {**overrides, "signing_key": stranger}

    fields = idp.respond_to(location, **overrides)

    with pytest.raises(OneLogin_Saml2_ValidationError, match=refusal):
        accept(settings, fields, request_id)


def test_python3_saml_accepts_a_response_without_audience(
    idp: SamlIdp, settings: OneLogin_Saml2_Settings
) -> None:
    """Pinned behaviour: no AudienceRestriction passes python3-saml's checks."""
    location, request_id = sign_in_redirect(settings)
    fields = idp.respond_to(location, audience=None)
    assert decoded(fields).find(".//saml:AudienceRestriction", NS) is None
    accept(settings, fields, request_id)


def test_failed_sign_in_response_has_no_assertion(idp: SamlIdp) -> None:
    """A RequestDenied answer: Responder/RequestDenied status, no assertion."""
    root = etree.fromstring(
        idp.response_xml(
            "ONELOGIN_3",
            status=STATUS_RESPONDER,
            sub_status=STATUS_REQUEST_DENIED,
            status_message="User is not assigned to this application",
        )
    )
    codes = [code.get("Value") for code in root.iter(f"{{{NS['samlp']}}}StatusCode")]
    assert codes == [STATUS_RESPONDER, STATUS_REQUEST_DENIED]
    assert root.find("saml:Assertion", NS) is None


def test_before_signing_edits_are_signed(
    idp: SamlIdp, settings: OneLogin_Saml2_Settings
) -> None:
    """A hook edits the XML first; the signatures still verify afterwards."""

    def second_email(response: etree._Element) -> None:
        attribute = response.find(".//saml:Attribute[@Name='email']", NS)
        assert attribute is not None
        value = etree.SubElement(attribute, f"{{{NS['saml']}}}AttributeValue")
        value.text = "ann.lee@acme.test"

    fields = idp.unsolicited(before_signing=second_email)
    response = accept(settings, fields, None)
    assert response.get_attributes()["email"] == ["ann@acme.test", "ann.lee@acme.test"]


def test_an_unstarted_idp_learns_the_sp_late(tmp_path: Path) -> None:
    """No HTTP (test-client tests) and SP URLs set after construction."""
    idp = SamlIdp(
        "http://placeholder.test", "http://placeholder.test/acs", tmp_dir=tmp_path
    )
    idp.sp_entity_id = SP_ENTITY_ID
    idp.acs_url = ACS_URL
    idp.user = {"name_id": "bo@acme.test", "email": "bo@acme.test"}
    settings = sp_settings(
        OneLogin_Saml2_IdPMetadataParser.parse(idp.metadata_xml())["idp"]
    )
    location, request_id = sign_in_redirect(settings)
    assert location.startswith(idp.sso_url + "?SAMLRequest=")

    response = accept(settings, idp.respond_to(location), request_id)

    assert response.get_nameid() == "bo@acme.test"
    assert response.get_attributes() == {"email": ["bo@acme.test"]}


def test_the_idp_refuses_a_request_for_another_acs(
    idp: SamlIdp, settings: OneLogin_Saml2_Settings
) -> None:
    """An AuthnRequest asking for a different ACS URL is an error, as at Okta."""
    location, _ = sign_in_redirect(settings)
    idp.acs_url = "https://gatehouse.test/elsewhere"
    try:
        with pytest.raises(SamlIdpError, match="AssertionConsumerServiceURL"):
            idp.respond_to(location)
    finally:
        idp.acs_url = ACS_URL
    with pytest.raises(SamlIdpError, match="SSO URL"):
        idp.respond_to("https://evil.test/sso/redirect?SAMLRequest=x")


# -- the harness over HTTP ---------------------------------------------------------


def form_fields(page: str) -> dict[str, str]:
    """The hidden inputs of the IdP's page."""
    return dict(
        re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    )


def test_sign_in_page_posts_an_acceptable_response(
    idp: SamlIdp, settings: OneLogin_Saml2_Settings
) -> None:
    """GET /sso/redirect renders the form a person submits with #idp-sign-in."""
    location, request_id = sign_in_redirect(settings)

    page = requests.get(location, timeout=5)

    assert page.status_code == 200
    assert "<title>Test IdP sign-in</title>" in page.text
    assert '<button id="idp-sign-in" type="submit">Sign In</button>' in page.text
    assert f'<form method="post" action="{ACS_URL}">' in page.text
    assert "ann@acme.test" in page.text
    fields = form_fields(page.text)
    assert set(fields) == {"SAMLResponse", "RelayState"}
    accept(settings, fields, request_id)
    assert idp.requests[-1].id == request_id


def test_dashboard_posts_an_unsolicited_response(
    idp: SamlIdp, settings: OneLogin_Saml2_Settings
) -> None:
    """GET /dashboard: IdP-initiated, no InResponseTo; python3-saml accepts it."""
    page = requests.get(idp.dashboard_url, params={"RelayState": "/home"}, timeout=5)
    assert 'id="idp-dashboard-app"' in page.text
    fields = form_fields(page.text)
    assert fields["RelayState"] == "/home"
    assert decoded(fields).get("InResponseTo") is None
    accept(settings, fields, None)


def test_a_garbage_request_gets_a_400(idp: SamlIdp) -> None:
    """What the IdP cannot read is answered 400 and kept in `errors`."""
    errors = len(idp.errors)
    page = requests.get(idp.sso_url, params={"SAMLRequest": "bm9wZQ=="}, timeout=5)
    assert page.status_code == 400
    assert len(idp.errors) == errors + 1
    assert "unusable AuthnRequest" in idp.errors[-1]
