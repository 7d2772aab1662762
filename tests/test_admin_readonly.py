"""Read-only admins say so once, through incidents.admin.mixins.ReadOnlyAdminMixin, instead of
repeating has_add/has_change/has_delete_permission returning False."""

import ast
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.test import RequestFactory

from incidents.admin.mixins import ReadOnlyAdminMixin

APPS = ["incidents", "comms", "pir", "integrations", "dashboard"]
TRIO = {"has_add_permission", "has_change_permission", "has_delete_permission"}


def _returns_false(fn: ast.FunctionDef) -> bool:
    body = [n for n in fn.body if not isinstance(n, ast.Expr)]  # docstrings aside
    return (
        len(body) == 1
        and isinstance(body[0], ast.Return)
        and isinstance(body[0].value, ast.Constant)
        and body[0].value.value is False
    )


def read_only_trios(source: str) -> list[str]:
    """Classes in `source` that refuse add, change and delete each with its own `return False`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            refusing = {
                f.name for f in node.body if isinstance(f, ast.FunctionDef) and _returns_false(f)
            }
            if refusing >= TRIO:
                found.append(node.name)
    return found


def test_no_admin_repeats_the_read_only_trio():
    mixin = Path(settings.BASE_DIR) / "incidents" / "admin" / "mixins.py"
    offenders = {
        str(path.relative_to(settings.BASE_DIR)): found
        for app in APPS
        for path in sorted((Path(settings.BASE_DIR) / app).rglob("*.py"))
        if path != mixin and (found := read_only_trios(path.read_text()))
    }
    assert offenders == {}
    assert read_only_trios(mixin.read_text()) == ["ReadOnlyAdminMixin"]


@pytest.mark.django_db
def test_read_only_admins_refuse_even_a_superuser(django_user_model):
    request = RequestFactory().get("/admin/")
    request.user = django_user_model.objects.create_superuser("root", "root@example.com", "x")
    read_only = [a for a in admin.site._registry.values() if isinstance(a, ReadOnlyAdminMixin)]
    names = {type(a).__name__ for a in read_only}
    assert {"TimelineEventAdmin", "PolicyChangeAdmin", "AuditEventAdmin"} <= names
    for model_admin in read_only:
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
