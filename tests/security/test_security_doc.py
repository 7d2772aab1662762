"""docs/security.md names, for each trust boundary, the test that holds its control. A test
renamed or removed without the document following would leave a control unguarded on paper:
every test the document names must exist."""

import ast
import re
from pathlib import Path

from django.conf import settings

# `tests/x/test_y.py::test_name` names a file and a test; a bare `::test_name` that follows
# in the same table cell names another test of the same file.
CITATION = re.compile(r"`(tests/[\w/]+\.py)?::(test_\w+)`")


def _cited_tests(text: str) -> list[tuple[str, str]]:
    cited = []
    for line in text.splitlines():
        current = None
        for match in CITATION.finditer(line):
            current = match.group(1) or current
            assert current, f"'::{match.group(2)}' names no file before it: {line[:80]}"
            cited.append((current, match.group(2)))
    return cited


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def test_every_test_the_security_document_names_exists():
    base = Path(settings.BASE_DIR)
    cited = _cited_tests((base / "docs" / "security.md").read_text())
    assert len(cited) > 40  # the document really names its tests
    missing = [
        f"{path}::{name}"
        for path, name in cited
        if not (base / path).is_file() or name not in _test_names(base / path)
    ]
    assert missing == []


def test_a_citation_without_a_file_is_read_as_the_previous_files():
    line = "| x | `tests/a.py::test_one`, `::test_two` |"
    assert _cited_tests(line) == [("tests/a.py", "test_one"), ("tests/a.py", "test_two")]
