"""Benchmark: what one SAML sign-in costs Gatehouse at the ACS.

Run from the repository root (needs the dev requirements, for the test IdP):

    .venv/bin/python bench/saml.py [--sign-ins 200]

A pysaml2 IdP (tests/support/saml_idp.py) signs the responses beforehand, so only
Gatehouse's side is timed: the POST to the ACS through the Flask test client,
with python3-saml's strict checks and signature verification, the replay cache,
the sign-in rules and the new session. Dashboard sign-ins of existing, linked
people (the common case) and SP-initiated ones (start + ACS). It prints figures
and asserts nothing about time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.builders import make_app  # noqa: E402
from tests.support.builders import make_org  # noqa: E402
from tests.support.saml import ACS_PATH  # noqa: E402
from tests.support.saml import ACS_URL  # noqa: E402
from tests.support.saml import PUBLIC_BASE_URL  # noqa: E402
from tests.support.saml_idp import SamlIdp  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(label: str, seconds: list[float]) -> None:
    """Print p50/p95/mean in milliseconds."""
    ms = [value * 1000 for value in seconds]
    print(
        f"{label:<34} p50 {percentile(ms, 0.5):6.2f} ms   "
        f"p95 {percentile(ms, 0.95):6.2f} ms   mean {statistics.mean(ms):6.2f} ms"
    )


def main() -> None:
    """Sign people in through the ACS and print how long it took."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sign-ins", type=int, default=200)
    count = parser.parse_args().sign_ins
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        app = make_app(tmp / "app", PUBLIC_BASE_URL=PUBLIC_BASE_URL)
        org = make_org(app)
        with SamlIdp(PUBLIC_BASE_URL, ACS_URL, tmp_dir=tmp / "idp") as idp:
            result = app.test_cli_runner().invoke(
                args=[
                    "sso",
                    "set-saml",
                    "--org",
                    org.name,
                    "--metadata-url",
                    idp.metadata_url,
                ]
            )
            assert result.exit_code == 0, result.output
            people = [f"person{n}@acme.test" for n in range(count)]

            def answer(address: str) -> dict[str, str]:
                idp.user = {
                    "name_id": address,
                    "email": address,
                    "firstName": "P",
                    "lastName": str(len(address)),
                }
                return idp.unsolicited()

            print(f"Signing {count} responses at the test IdP (not timed)...")
            first = [answer(address) for address in people]
            again = [answer(address) for address in people]
            timings: dict[str, list[float]] = {"jit": [], "linked": [], "sp": []}
            for label, batch in (("jit", first), ("linked", again)):
                for fields in batch:
                    client = app.test_client()
                    began = time.perf_counter()
                    response = client.post(ACS_PATH, data=fields)
                    timings[label].append(time.perf_counter() - began)
                    assert response.status_code == 302, response.text
            for address in people[: max(1, count // 4)]:
                idp.user = {"name_id": address, "email": address}
                client = app.test_client()
                began = time.perf_counter()
                location = client.get(
                    "/sso/okta", query_string={"org": org.name}
                ).headers["Location"]
                elapsed = time.perf_counter() - began
                fields = idp.respond_to(location)
                began = time.perf_counter()
                response = client.post(ACS_PATH, data=fields)
                timings["sp"].append(elapsed + time.perf_counter() - began)
                assert response.status_code == 302, response.text
    report("Dashboard, new person (JIT)", timings["jit"])
    report("Dashboard, linked person", timings["linked"])
    report("SP-initiated (start + ACS), linked", timings["sp"])


if __name__ == "__main__":
    main()
