"""An owner's or admin's test sign-in over OIDC: the callback's own path.

The test starts like any sign-in (`flow.start_oidc_test`: the same authorize
request, state, PKCE and nonce) with a flow that names its tester and the
version of the OIDC settings it tests. Its answer is verified exactly as a
sign-in's (`answer.verified_claims`), and then only recorded
(`outcome.record_test_result`): nobody is signed in, no account is made or
linked, and the tester's session stays as it was. The code is spent at Okta's
token endpoint and the flow is gone from the session, so the same answer can
never be replayed, as a test or as a sign-in.
"""

from __future__ import annotations

import time
from typing import Any

from flask import request
from flask import session

from blueprints.okta.outcome import FLOW_SECONDS
from blueprints.okta.outcome import audit_repeated_refusal
from blueprints.okta.outcome import record_test_result
from blueprints.okta.outcome import refuse
from blueprints.okta_oidc.answer import OKTA_ERRORS
from blueprints.okta_oidc.answer import VERIFICATION_ERRORS
from blueprints.okta_oidc.answer import profile_of
from blueprints.okta_oidc.answer import verified_claims
from blueprints.okta_oidc.flow import FLOW_KEY
from blueprints.okta_oidc.flow import state_matches
from blueprints.okta_oidc.flow import tester_of
from core.authority import Actor
from core.extensions import db
from core.models import Organization
from core.models import SsoConfig
from core.models import User
from core.sso_authority import sso_test_problem


def answer_test_sign_in(flow: dict[str, Any]) -> Any:
    """Okta's redirect back after a test sign-in: verify, then record the result."""
    org = db.session.get(Organization, flow.get("org_id"))
    tester = tester_of(flow)
    config = org.sso_config if org is not None else None
    if (
        org is None
        or config is None
        or tester is None
        or tester.organization_id != org.id
        or sso_test_problem(Actor.of_user(tester)) is not None
        or time.time() - flow.get("started", 0) > FLOW_SECONDS
    ):
        audit_repeated_refusal(
            org, "test sign-in without its tester's session", method="okta-oidc"
        )
        return refuse(
            "This test sign-in has expired or was started in another session. "
            "Start it again from Settings, Okta authentication.",
            400,
        )
    if not state_matches(config, flow, request.args.get("state", "")):
        session[FLOW_KEY] = flow  # not this test's answer: leave the test alone
        audit_repeated_refusal(
            org, "state does not match the test sign-in in progress", method="okta-oidc"
        )
        return refuse("This answer does not belong to the test you started.", 403)
    version = flow["settings_version"]
    if config.version != flow["version"] or config.settings_version("oidc") != version:
        return record_test_result(
            org,
            "oidc",
            tester,
            settings_version=version,
            refusal="The settings changed during the test: test again.",
        )
    return _verify(org, config, tester, version)


def _verify(org: Organization, config: SsoConfig, tester: User, version: int) -> Any:
    """Verify Okta's answer as a sign-in would, and record what it said."""
    if "error" in request.args:
        code = request.args.get("error", "")[:100]
        return record_test_result(
            org,
            "oidc",
            tester,
            settings_version=version,
            refusal=OKTA_ERRORS.get(code, f"Okta refused the sign-in ({code})."),
        )
    try:
        claims, issuer = verified_claims(config)
    except VERIFICATION_ERRORS as exc:
        return record_test_result(
            org,
            "oidc",
            tester,
            settings_version=version,
            refusal=f"Okta's answer could not be verified: {exc}"[:400],
        )
    return record_test_result(
        org,
        "oidc",
        tester,
        settings_version=version,
        profile=profile_of(claims, issuer),
    )
