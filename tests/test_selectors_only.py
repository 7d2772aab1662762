"""Reads go through selectors (docs/architecture.md, "Conventions"): a module that defines
views (API or page) asks a selector for rows; it never queries a model's manager itself."""

import ast
from pathlib import Path

import pytest
from django.conf import settings

APPS = ["incidents", "comms", "pir", "integrations", "dashboard", "tensafe_ir"]
MANAGERS = {"objects", "_default_manager", "_base_manager"}
VIEW_BASES = ("View", "APIView", "ViewSet", "Feed")


def _defines_views(path: Path, tree: ast.AST) -> bool:
    if path.name == "views.py" or path.parent.name == "views":
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                if name.endswith(VIEW_BASES):
                    return True
    return False


def _queries_a_model(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr in MANAGERS
    # get_object_or_404(Model, ...) queries the model's manager too; a selector's queryset
    # as first argument is fine.
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"get_object_or_404", "get_list_or_404"}
        and bool(node.args)
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id[:1].isupper()
    )


def manager_queries(source: str) -> list[str]:
    """Model managers queried in `source`, as "line N: <the expression>"."""
    return [
        f"line {node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(ast.parse(source))
        if _queries_a_model(node)
    ]


def _view_modules() -> list[Path]:
    found = []
    for app in APPS:
        for path in sorted((Path(settings.BASE_DIR) / app).rglob("*.py")):
            if "migrations" not in path.parts and _defines_views(path, ast.parse(path.read_text())):
                found.append(path)
    return found


def test_view_modules_read_through_selectors():
    modules = _view_modules()
    names = {str(p.relative_to(settings.BASE_DIR)) for p in modules}
    # the walk found the API modules and the pages
    assert {"incidents/api/views.py", "integrations/api.py", "incidents/views.py"} <= names
    offenders = {
        str(path.relative_to(settings.BASE_DIR)): found
        for path in modules
        if (found := manager_queries(path.read_text()))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    "source",
    [
        "Service.objects.select_related('team')",
        "queryset = AuditEvent.objects.all()",
        "get_object_or_404(Schedule.objects, slug=slug)",
        "model._default_manager.filter(pk=1)",
        "get_object_or_404(ContactMethod, pk=1, user=user)",
    ],
)
def test_the_check_sees_a_manager_query(source):
    assert manager_queries(source)


def test_the_check_leaves_related_managers_and_selectors_alone():
    assert manager_queries("[s.slug for s in incident.services.all()]") == []
    assert manager_queries("get_object_or_404(contact_method_list_for(user), pk=1)") == []
