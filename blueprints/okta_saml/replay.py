"""The replay cache: each assertion is accepted once, whichever worker gets it.

Accepted assertion IDs go to `saml_assertion_seen` (primary key), shared by
every worker through the database; `authn_requests.forget_expired` drops the
rows of assertions that could no longer be accepted anyway.
"""

from __future__ import annotations

from datetime import timedelta

from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from sqlalchemy.exc import IntegrityError

from blueprints.okta_saml.authn_requests import REQUEST_LIFETIME
from blueprints.okta_saml.verify import Assertion
from core.extensions import db
from core.models import Organization
from core.models import SamlAssertionSeen
from core.models import utcnow

# python3-saml allows this much clock difference on Conditions (a constant there).
CLOCK_SKEW = timedelta(seconds=Saml.ALLOWED_CLOCK_DRIFT)


def remember_assertion(org: Organization, assertion: Assertion) -> bool:
    """Record the assertion as used (flushed, not committed).

    Returns False, with the session rolled back, if it was used before. The
    row lives until the assertion could no longer be accepted anyway.
    """
    expires = (
        max(assertion.not_on_or_after or utcnow(), utcnow() + REQUEST_LIFETIME)
        + CLOCK_SKEW
    )
    db.session.add(
        SamlAssertionSeen(
            assertion_id=assertion.assertion_id[:200],
            organization_id=org.id,
            expires_at=expires,
        )
    )
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return False
    return True
