"""docs/security.md names, for each trust boundary, the test that holds its control. A test
renamed or removed without the document following would leave a control unguarded on paper:
every test the document names must exist (tests/doc_citations.py reads the citations)."""

from pathlib import Path

from django.conf import settings

from tests.doc_citations import cited_tests, missing_tests


def test_every_test_the_security_document_names_exists():
    base = Path(settings.BASE_DIR)
    cited = cited_tests((base / "docs" / "security.md").read_text())
    assert len(cited) > 40  # the document really names its tests
    assert missing_tests(base, cited) == []


def test_a_citation_without_a_file_is_read_as_the_previous_files():
    line = "| x | `tests/a.py::test_one`, `::test_two` |"
    assert cited_tests(line) == [("tests/a.py", "test_one"), ("tests/a.py", "test_two")]


def test_a_parametrised_id_names_its_test():
    line = "| x | `tests/a.py::test_one[P1]`, `::test_two[P1-internal-15]` |"
    assert cited_tests(line) == [("tests/a.py", "test_one"), ("tests/a.py", "test_two")]
