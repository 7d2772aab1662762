"""Documents that name the tests holding their rules (docs/security.md, docs/procedures-map.md).

A test renamed or removed without the document following would leave a rule unguarded on
paper; these helpers read a document's citations and find the ones naming no test. The name of
this module does not start with `test_`, and none of its functions does either: pytest would
collect them in every test module that imports them.
"""

import ast
import re
from pathlib import Path

# `tests/x/test_y.py::test_name` names a file and a test; a bare `::test_name` that follows on
# the same line names another test of the same file. A parametrised id (`test_name[P1]`) names
# the test `test_name`.
CITATION = re.compile(r"`(tests/[\w/]+\.py)?::(test_\w+)(?:\[[^\]`]*\])?`")


def cited_tests(text: str) -> list[tuple[str, str]]:
    """(file, test name) for every citation in `text`, in order."""
    cited = []
    for line in text.splitlines():
        current = None
        for match in CITATION.finditer(line):
            current = match.group(1) or current
            assert current, f"'::{match.group(2)}' names no file before it: {line[:80]}"
            cited.append((current, match.group(2)))
    return cited


def functions_defined_in(path: Path) -> set[str]:
    """Every function a Python file defines, at any depth (read with ast, never imported)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def missing_tests(base: Path, cited: list[tuple[str, str]]) -> list[str]:
    """The citations (relative to the checkout `base`) whose file or test does not exist."""
    defined: dict[str, set[str]] = {}
    missing = []
    for path, name in cited:
        if path not in defined:
            file = base / path
            defined[path] = functions_defined_in(file) if file.is_file() else set()
        if name not in defined[path]:
            missing.append(f"{path}::{name}")
    return missing
