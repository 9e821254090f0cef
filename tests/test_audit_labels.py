"""Every audit kind the code records has a human label (blueprints/audit/labels.py).

The test reads core/ and blueprints/ for `audit.record*(...)` calls and the
kinds they pass. When it fails, its message lists the kinds to label.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from blueprints.audit.labels import FAILED_KINDS
from blueprints.audit.labels import KIND_LABELS
from blueprints.audit.labels import REFUSED_KINDS
from blueprints.audit.labels import field_words
from blueprints.audit.labels import kind_label
from blueprints.audit.labels import value_words
from blueprints.audit.text import soft_breaks
from tests.support.constants import REPO

AUDIT_FUNCTIONS = {"record", "record_repeated", "record_now"}


def _sources() -> list[Path]:
    return sorted(
        [*(REPO / "core").rglob("*.py"), *(REPO / "blueprints").rglob("*.py")]
    )


def _is_audit_call(node: ast.Call) -> bool:
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in AUDIT_FUNCTIONS
        and isinstance(func.value, ast.Name)
        and func.value.id == "audit"
    )


def _kind_argument(node: ast.Call) -> ast.expr | None:
    if node.args:
        return node.args[0]
    return next((k.value for k in node.keywords if k.arg == "kind"), None)


def _field_values(tree: ast.Module, field: str) -> set[str]:
    """Constants given for dataclass field `field` in this module's constructor
    calls (e.g. LinkEmail(..., "password.reset_email_sent", ...))."""
    found: set[str] = set()
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        fields = [
            s.target.id
            for s in cls.body
            if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
        ]
        if field not in fields:
            continue
        index = fields.index(field)
        for call in ast.walk(tree):
            if not (
                isinstance(call, ast.Call) and getattr(call.func, "id", "") == cls.name
            ):
                continue
            values = [k.value for k in call.keywords if k.arg == field]
            values += call.args[index : index + 1]
            found |= {v.value for v in values if isinstance(v, ast.Constant)}
    return found


def _module_constant(tree: ast.Module, name: str) -> str | None:
    """The string a module-level `NAME = "..."` gives `name` (here, or in the
    module it is imported from), or None."""
    for statement in tree.body:
        targets = (
            statement.targets
            if isinstance(statement, ast.Assign)
            else [statement.target]
            if isinstance(statement, ast.AnnAssign)
            else []
        )
        value = getattr(statement, "value", None)
        if (
            any(isinstance(t, ast.Name) and t.id == name for t in targets)
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
        ):
            return value.value
    for statement in tree.body:
        if isinstance(statement, ast.ImportFrom) and statement.module:
            if any(alias.name == name for alias in statement.names):
                source = REPO / (statement.module.replace(".", "/") + ".py")
                if source.exists():
                    return _module_constant(
                        ast.parse(source.read_text(encoding="utf-8")), name
                    )
    return None


def _kinds_of(
    expr: ast.expr, tree: ast.Module, where: str
) -> tuple[set[str], set[str]]:
    """(kinds, patterns) an argument expression can be; unreadable ones fail."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return {expr.value}, set()
    if isinstance(expr, ast.IfExp):
        kinds_a, patterns_a = _kinds_of(expr.body, tree, where)
        kinds_b, patterns_b = _kinds_of(expr.orelse, tree, where)
        return kinds_a | kinds_b, patterns_a | patterns_b
    if isinstance(expr, ast.JoinedStr):
        parts = [
            re.escape(p.value) if isinstance(p, ast.Constant) else "[a-z_]+"
            for p in expr.values
        ]
        return set(), {"^" + "".join(parts) + "$"}
    if isinstance(expr, ast.Attribute):
        kinds = _field_values(tree, expr.attr)
        if kinds:
            return kinds, set()
    if isinstance(expr, ast.Name):
        value = _module_constant(tree, expr.id)
        if value is not None:
            return {value}, set()
    raise AssertionError(
        f"{where}: cannot read the audit kind; label it and teach this test"
    )


def recorded_kinds() -> tuple[set[str], dict[str, str]]:
    """Every literal kind recorded, and each f-string kind's pattern (with where)."""
    kinds: set[str] = set()
    patterns: dict[str, str] = {}
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _is_audit_call(node)):
                continue
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            argument = _kind_argument(node)
            assert argument is not None, where
            found, shapes = _kinds_of(argument, tree, where)
            kinds |= found
            patterns.update({shape: where for shape in shapes})
    return kinds, patterns


def test_every_recorded_kind_has_a_label() -> None:
    kinds, patterns = recorded_kinds()
    # The scan finds what the code records today, the indirect kinds included.
    assert {"member.role_changed", "sign_in.refused", "api_key.created"} <= kinds
    assert {"password.reset_email_sent", "password.invitation_failed"} <= kinds
    assert len(kinds) >= 30
    missing = sorted(kinds - KIND_LABELS.keys())
    assert not missing, f"Add labels to blueprints/audit/labels.py for: {missing}"
    for pattern, where in patterns.items():
        assert any(re.match(pattern, kind) for kind in KIND_LABELS), (
            f"{where}: no label matches the kinds {pattern} makes"
        )


def test_every_refusal_or_failure_kind_reads_as_one() -> None:
    """A kind named like a refusal or a failure never shows a "Success" badge."""
    kinds, _patterns = recorded_kinds()
    assert {"scim.unauthorized", "universal_logout.refused"} <= kinds
    named = {k for k in kinds if k.endswith(("refused", "failed", "unauthorized"))}
    missing = sorted(named - REFUSED_KINDS - FAILED_KINDS)
    assert not missing, (
        f"Add to REFUSED_KINDS or FAILED_KINDS in blueprints/audit/labels.py: {missing}"
    )


def test_scim_unauthorized_reasons_read_as_words() -> None:
    reasons = ("revoked", "holder_inactive", "wrong_scheme", "unknown_key", "no_key")
    for reason in reasons:
        assert value_words(reason) != reason


def test_scim_kinds_are_all_labelled() -> None:
    """blueprints/scim/activity.py makes scim.<user|group>.<verb>: each has a label."""
    for resource in ("user", "group"):
        for verb in ("created", "adopted", "updated", "deleted"):
            assert f"scim.{resource}.{verb}" in KIND_LABELS
    for verb in ("deactivated", "reactivated"):
        assert f"scim.user.{verb}" in KIND_LABELS


def test_an_unknown_kind_reads_as_words() -> None:
    assert kind_label("future_thing.accepted") == "Future thing accepted"
    assert kind_label("sso.require-okta_on") == "Sso require okta on"
    assert kind_label("") == "Event"
    assert kind_label("member.role_changed") == "Role changed"


def test_fields_and_values_read_as_words() -> None:
    assert field_words("name.givenName") == "First name"
    assert field_words("scim_managed") == "Scim managed"
    assert field_words("some_new_field") == "Some new field"
    assert value_words(True) == "yes" and value_words(False) == "no"
    assert value_words(None) == "none"
    assert value_words(["scim", "admin"]) == "scim, admin"
    assert value_words({"a_b": 1}) == "A b: 1"
    assert value_words("okta-saml") == "Okta (SAML)"


def test_long_tokens_may_break_after_at_and_slash_only() -> None:
    assert soft_breaks("dana@acme.test") == "dana@acme.test"
    assert soft_breaks("alexandria.konstantinopoulou@engineering.acme.test") == (
        "alexandria.konstantinopoulou@<wbr>engineering.acme.test"
    )
    assert soft_breaks("<script>/" + "x" * 30) == "&lt;script&gt;/<wbr>" + "x" * 30
