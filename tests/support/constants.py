"""Values several test modules share."""

from __future__ import annotations

from pathlib import Path

# The repository's root (where `flask` finds app.py and migrations/).
REPO = Path(__file__).resolve().parents[2]

# The test apps' secret key.
SECRET_KEY = "test-secret-key"
# Where Flask's test client sends its requests, and the test apps' public address.
APP_ROOT = "http://localhost"
# The organization the `org` fixture makes, and the one the sign-in helpers start.
ORG_NAME = "Acme"
# Every account's password unless a test says otherwise (owners', members').
PASSWORD = "correct horse battery staple"
# The owner the browser tests sign in as (the screenshots in docs/ show them).
BROWSER_OWNER_EMAIL = "ada.owner@acme.test"
# Their organization in the sign-in walk-throughs of docs/okta-oidc.md and okta-saml.md.
DOCS_ORGANIZATION = "Acme Rockets"
