"""Who may import whom (docs/architecture.md, "Apps"): the core never depends on the apps
built on it, and no app reaches another through a string the import graph cannot see."""

import ast
from pathlib import Path

import pytest
from django.conf import settings

# app -> the project's other packages it may depend on (docs/architecture.md, "Apps").
MAY_IMPORT = {
    "incidents": set(),
    "comms": {"incidents"},
    "pir": {"incidents", "comms"},
    "integrations": {"incidents"},
    "dashboard": {"incidents", "comms", "pir"},
    "tensafe_ir": {"incidents", "comms", "pir", "integrations", "dashboard"},
}
PROJECT = set(MAY_IMPORT)

# Calls that import a module named by a string: the dependency is invisible to the walk, and
# a wrong name turns into a silent None where it is caught.
STRING_IMPORTS = {"import_module", "__import__", "import_string", "find_spec"}
# Calls that reach a model by its app label.
MODEL_BY_LABEL = {"get_model"}


def _project_files(app: str) -> list[Path]:
    return sorted((Path(settings.BASE_DIR) / app).rglob("*.py"))


def _package(path: Path) -> list[str]:
    parts = list(path.relative_to(settings.BASE_DIR).with_suffix("").parts)
    return parts if parts[-1] == "__init__" else parts[:-1]


def _imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, relative imports resolved against its package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names.add(node.module or "")
                continue
            package = _package(path)
            base = package[: len(package) - (node.level - 1)]
            names.add(".".join([*base, *([node.module] if node.module else [])]))
    return names


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def string_reaches(source: str, app: str) -> list[str]:
    """How the module `source` (of `app`) reaches another of the project's packages through a
    string: dynamic imports of anything not a literal of its own app, and models of an app it
    may not import looked up by label."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name, first = _call_name(node), node.args[0]
        literal = first.value if isinstance(first, ast.Constant) else None
        if name in STRING_IMPORTS:
            if not isinstance(literal, str):
                found.append(f"line {node.lineno}: {name}() of a computed name")
            elif literal.split(".")[0] in PROJECT - {app}:
                found.append(f"line {node.lineno}: {name}({literal!r})")
        elif name in MODEL_BY_LABEL and isinstance(literal, str):
            label = literal.split(".")[0]
            if label in PROJECT - {app} - MAY_IMPORT[app]:
                found.append(f"line {node.lineno}: {name}({literal!r})")
    return found


def test_every_app_imports_only_what_its_layer_allows():
    offenders = {}
    for app, allowed in MAY_IMPORT.items():
        for path in _project_files(app):
            reached = {
                m for m in _imported_modules(path) if m.split(".")[0] in PROJECT - {app} - allowed
            }
            if reached:
                offenders[str(path.relative_to(settings.BASE_DIR))] = sorted(reached)
    assert offenders == {}
    assert len(_project_files("incidents")) > 10  # the walk really read the core


def test_incidents_never_imports_the_apps_built_on_it():
    core_imports = set().union(*map(_imported_modules, _project_files("incidents")))
    apps_built_on_it = {"comms", "pir", "integrations", "dashboard"}
    assert {m.split(".")[0] for m in core_imports} & apps_built_on_it == set()


def package_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle of the package graph (package -> the packages it imports), each once."""
    cycles = []

    def walk(path: list[str]) -> None:
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt == path[0]:
                cycles.append(path)
            elif nxt not in path and nxt > path[0]:
                walk([*path, nxt])

    for start in sorted(graph):
        walk([start])
    return cycles


def _package_graph() -> dict[str, set[str]]:
    return {
        app: {
            m.split(".")[0]
            for path in _project_files(app)
            for m in _imported_modules(path)
            if m.split(".")[0] in PROJECT - {app}
        }
        for app in MAY_IMPORT
    }


def test_no_import_cycle_between_the_project_package_and_the_apps():
    graph = _package_graph()
    assert "incidents" in graph["tensafe_ir"]  # the walk saw the project package's imports
    assert package_cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    graph = {"tensafe_ir": {"incidents"}, "incidents": {"tensafe_ir"}, "comms": {"incidents"}}
    assert package_cycles(graph) == [["incidents", "tensafe_ir"]]


def test_no_app_reaches_another_through_a_string():
    offenders = {
        str(path.relative_to(settings.BASE_DIR)): reaches
        for app in MAY_IMPORT
        for path in _project_files(app)
        if (reaches := string_reaches(path.read_text(), app))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    ("source", "app"),
    [
        ('from importlib import import_module\nimport_module("comms.models")', "dashboard"),
        ("import importlib\nimportlib.import_module(name)", "dashboard"),
        ('__import__("pir.selectors")', "dashboard"),
        ('from django.apps import apps\napps.get_model("comms", "Update")', "incidents"),
        ('apps.get_model("integrations.Integration")', "comms"),
        ('import_string("comms.tasks.deliver")', "incidents"),
    ],
)
def test_the_string_check_sees_each_way_of_reaching_in(source, app):
    assert string_reaches(source, app)


def test_the_string_check_leaves_allowed_lookups_alone():
    source = 'apps.get_model("incidents", "Incident")\nimport_module("comms.chatops")'
    assert string_reaches(source, "comms") == []
