"""Security primitives: passwords, secret encryption, safe redirects."""

from __future__ import annotations

import pytest
from argon2 import extract_parameters
from argon2.profiles import RFC_9106_LOW_MEMORY
from flask import Flask

import core.security
from core.security import decrypt_secret
from core.security import encrypt_secret
from core.security import hash_password
from core.security import password_problem
from core.security import safe_next_url
from core.security import verify_password

# The tests of hashing itself: argon2 at its production cost here.
pytestmark = pytest.mark.real_passwords


def test_password_hash_round_trip() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "correct horse batterY")
    assert not verify_password(None, "anything")
    assert not verify_password("not-a-hash", "anything")


def test_passwords_are_hashed_with_the_production_parameters() -> None:
    """argon2id with RFC 9106's low-memory profile (what other test modules
    replace with cheap parameters), and the decoy hash checked when no account
    matches costs the same, so the time taken does not say whether an email has
    an account."""
    stored = extract_parameters(hash_password("correct horse battery"))
    assert stored == RFC_9106_LOW_MEMORY
    assert extract_parameters(core.security._DUMMY_HASH) == RFC_9106_LOW_MEMORY


@pytest.mark.parametrize(
    ("password", "ok"), [("short", False), ("x" * 10, True), ("x" * 1001, False)]
)
def test_password_rules(password: str, ok: bool) -> None:
    assert (password_problem(password) is None) is ok


def test_secret_encryption_round_trip_and_key_binding(app: Flask) -> None:
    with app.app_context():
        token = encrypt_secret("okta client secret")
        assert "okta client secret" not in token
        assert decrypt_secret(token) == "okta client secret"
        app.config["SECRET_KEY"] = "another key"
        with pytest.raises(ValueError, match="SECRET_KEY"):
            decrypt_secret(token)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/members", "/members"),
        ("/members?q=a#top", "/members?q=a#top"),
        ("/", "/"),
        (None, None),
        ("", None),
        ("members", None),
        ("//evil.example", None),
        ("///evil.example", None),
        ("/\\evil.example", None),
        ("\\/evil.example", None),
        ("https://evil.example/members", None),
        ("javascript:alert(1)", None),
        ("/\t/evil.example", None),
        ("/\n/evil.example", None),
        ("/" + "a" * 3000, None),
    ],
)
def test_safe_next_url(target: str | None, expected: str | None) -> None:
    assert safe_next_url(target) == expected
