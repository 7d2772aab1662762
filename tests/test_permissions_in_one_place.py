"""Who may do what is decided in one module per app, `<app>/permissions.py`
(docs/architecture.md, "Conventions"); every other module asks it. Admin classes answer
Django's own `has_*_permission` hooks and may refuse there, but from the same rules."""

import ast
from pathlib import Path

import pytest
from django.conf import settings

APPS = ["incidents", "comms", "pir", "integrations", "dashboard"]
# The raw facts a rule is made of: only a permissions module combines them.
RAW_FACTS = {"is_sre_lead", "has_perm", "is_security_member"}
RULE_PREFIXES = ("may_", "can_", "require_may_", "require_can_")


def _is_permissions_module(path: Path) -> bool:
    return path.name == "permissions.py"


def _is_admin_module(path: Path) -> bool:
    return path.name.startswith("admin") or "admin" in path.parent.parts[-1:]


def rules_decided_outside(source: str, *, admin: bool) -> list[str]:
    """Where `source` decides who may do what itself: a rule defined (`may_…`, `can_…`), a
    raw fact combined (`is_sre_lead(…)`, `.has_perm(…)`), or a refusal worded here
    (`raise PermissionDenied("…")`). Admin modules may refuse and ask raw facts."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name.lstrip("_").startswith(RULE_PREFIXES):
            found.append(f"line {node.lineno}: defines {node.name}")
        elif admin:
            continue
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in RAW_FACTS:
                found.append(f"line {node.lineno}: asks {name}")
        elif (
            isinstance(node, ast.Raise)
            and isinstance(node.exc, ast.Call)
            and getattr(node.exc.func, "id", "") == "PermissionDenied"
            and node.exc.args
        ):
            found.append(f"line {node.lineno}: refuses with PermissionDenied(...)")
    return found


def test_permission_rules_live_in_each_apps_permissions_module():
    offenders = {}
    for app in APPS:
        for path in sorted((Path(settings.BASE_DIR) / app).rglob("*.py")):
            if _is_permissions_module(path) or "migrations" in path.parts:
                continue
            if "management" in path.parts:  # demo seed data, not a request's decision
                continue
            found = rules_decided_outside(path.read_text(), admin=_is_admin_module(path))
            if found:
                offenders[str(path.relative_to(settings.BASE_DIR))] = found
    assert offenders == {}


def test_each_app_with_rules_of_its_own_has_a_permissions_module():
    base = Path(settings.BASE_DIR)
    assert {app for app in APPS if (base / app / "permissions.py").exists()} >= {
        "incidents",
        "comms",
        "pir",
        "integrations",
    }


@pytest.mark.parametrize(
    "source",
    [
        "def _may_own_review(actor, incident):\n    return True",
        "def f(user):\n    return is_sre_lead(user)",
        "def f(actor):\n    return actor.has_perm('comms.delete_chatidentity')",
        "def f():\n    raise PermissionDenied('Only SRE leads.')",
    ],
)
def test_the_check_sees_a_rule_decided_elsewhere(source):
    assert rules_decided_outside(source, admin=False)


def test_the_check_leaves_asking_a_rule_alone():
    source = "def f(user, incident):\n    require_may_post_publicly(user, incident)\n"
    assert rules_decided_outside(source, admin=False) == []
