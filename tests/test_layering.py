"""The core never depends on the apps built on it (STYLE.md layout rule)."""

import ast
from pathlib import Path

from django.conf import settings


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_incidents_never_imports_the_apps_built_on_it():
    core = Path(settings.BASE_DIR) / "incidents"
    offenders = {
        str(path.relative_to(settings.BASE_DIR)): sorted(
            m
            for m in _imported_modules(path)
            if m.split(".")[0] in {"comms", "pir", "integrations"}
        )
        for path in core.rglob("*.py")
    }
    offenders = {path: mods for path, mods in offenders.items() if mods}
    assert offenders == {}
    assert len(list(core.rglob("*.py"))) > 10  # the walk really read the core
