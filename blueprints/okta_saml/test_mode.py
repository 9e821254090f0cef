"""An owner's or admin's test sign-in over SAML: the ACS's own path.

The test sends a normal AuthnRequest (`flow.start_saml_test`) whose
`saml_request` row names its tester. Its answer is found like any answer (by
InResponseTo), must come back through the browser that asked (the SAML
cookie), and is verified exactly as a sign-in's (`verify.verify_response`:
signature, issuer, audience, destination, time window, InResponseTo); the
request and the assertion are then spent once each (`flow.accept_answer`,
the replay cache), so the same response can never be used again, as a test or
as a sign-in. Then it is only recorded (`outcome.record_test_result`): nobody
is signed in, no account is made or linked.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import request

from blueprints.okta.outcome import record_test_result
from blueprints.okta_saml.errors import SamlError
from blueprints.okta_saml.flow import BROWSER_COOKIE
from blueprints.okta_saml.flow import accept_answer
from blueprints.okta_saml.flow import profile_of
from blueprints.okta_saml.messages import message
from blueprints.okta_saml.verify import verify_response
from core import throttle
from core.authority import Actor
from core.extensions import db
from core.models import Organization
from core.models import SamlRequest
from core.models import SsoConfig
from core.models import User
from core.security import hash_token
from core.sso_authority import sso_test_problem


def check_test_answer(
    org: Organization | None, pending: SamlRequest
) -> tuple[User, SsoConfig]:
    """The tester and the settings, if this answer may end their test.

    :raise SamlError: when another browser sent it, the tester may no longer
        test, or the settings changed since the request (nothing is recorded
        then: the answer is not known to be the tester's).
    """
    config = org.sso_config if org is not None else None
    tester = db.session.get(User, pending.test_user_id)
    if not hmac.compare_digest(
        hash_token(request.cookies.get(BROWSER_COOKIE, "")), pending.browser_hash
    ):
        raise SamlError(
            "other_browser", "the browser's SAML cookie does not match the request"
        )
    if (
        org is None
        or config is None
        or not config.is_saved("saml")
        or tester is None
        or tester.organization_id != org.id
        or not tester.is_active
        or sso_test_problem(Actor.of_user(tester)) is not None
    ):
        raise SamlError("not_set_up", "test sign-in that can no longer be recorded")
    if pending.config_version != config.version:
        raise SamlError("settings_changed", "Okta settings changed during the test")
    return tester, config


def answer_test_sign_in(
    org: Organization,
    config: SsoConfig,
    pending: SamlRequest,
    tester: User,
    raw: str,
) -> Any:
    """Verify a test's answer as a sign-in would, spend it, record what it said."""
    version = config.settings_version("saml")
    try:
        assertion = verify_response(config, raw, pending.id)
        accept_answer(org, pending, assertion)
    except SamlError as error:
        db.session.rollback()
        throttle.count_saml_failure(request.remote_addr or "")
        return record_test_result(
            org,
            "saml",
            tester,
            settings_version=version,
            refusal=f"{message(error.kind)[0]} ({error.kind}: {error.reason})"[:500],
        )
    return record_test_result(
        org,
        "saml",
        tester,
        settings_version=version,
        profile=profile_of(config, assertion),
        name_id_format=assertion.name_id_format or "",
        attributes=assertion.attributes,
    )
