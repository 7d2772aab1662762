"""A review downloaded again unchanged is not printed again (pir/render/pdf.py, RenderedPdfs):
the PDF is kept by the digest of its HTML, so any edit prints anew, and whoever may not read
the review still gets its 404 first."""

import pytest

from pir.render import pdf
from pir.render.pdf import RenderedPdfs
from tests.factories import UserFactory
from tests.pir.conftest import fill

pytestmark = pytest.mark.django_db


@pytest.fixture
def prints(monkeypatch):
    """A fresh cache of 32 MiB for the test, and the HTML of every print it makes."""
    printed: list[str] = []
    real = pdf.html_to_pdf

    def counting(html, fetcher=None):
        printed.append(html)
        return real(html, fetcher)

    monkeypatch.setattr(pdf, "html_to_pdf", counting)
    monkeypatch.setattr(pdf, "RENDERED", RenderedPdfs(32 << 20))
    return printed


def test_a_second_reader_of_an_unchanged_review_gets_the_same_pdf_unprinted(p1_pir, api, prints):
    pir, ic = p1_pir
    other = UserFactory(rank="engineer", groups=["responder"])
    first = api(ic).get(f"/api/v1/pirs/{pir.pk}/pdf/")
    second = api(other).get(f"/api/v1/pirs/{pir.pk}/pdf/")
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert len(prints) == 1


def test_an_edit_prints_anew_and_the_pdf_shows_it(p1_pir, api, prints):
    pir, ic = p1_pir
    before = api(ic).get(f"/api/v1/pirs/{pir.pk}/pdf/").content
    fill(pir, summary="Rolled back by hand at 14:02.")
    after = api(ic).get(f"/api/v1/pirs/{pir.pk}/pdf/").content
    assert len(prints) == 2
    assert after != before
    assert "Rolled back by hand" in prints[1] and "Rolled back by hand" not in prints[0]


def test_a_kept_pdf_of_a_restricted_review_is_still_404_to_others(resolved, api, prints):
    ic = UserFactory(rank="engineering_manager", groups=["incident_commander", "security"])
    incident, _ = resolved("P1", ic=ic, security=True, title="Leaked credentials")
    assert api(ic).get(f"/api/v1/pirs/{incident.pir.pk}/pdf/").status_code == 200
    outsider = UserFactory(rank="senior_engineer", groups=["sre_lead"])
    response = api(outsider).get(f"/api/v1/pirs/{incident.pir.pk}/pdf/")
    assert response.status_code == 404
    assert not response.content.startswith(b"%PDF")
    assert len(prints) == 1


def _sized(monkeypatch, sizes: dict[str, int]) -> list[str]:
    printed: list[str] = []

    def fake(html, fetcher=None):
        printed.append(html)
        return b"x" * sizes[html]

    monkeypatch.setattr(pdf, "html_to_pdf", fake)
    return printed


def test_the_least_recently_read_pdf_goes_first_within_the_byte_limit(monkeypatch):
    printed = _sized(monkeypatch, {"a": 40, "b": 40, "c": 40})
    kept = RenderedPdfs(100)
    kept.get_or_print("a")
    kept.get_or_print("b")
    kept.get_or_print("a")  # a read again: b is now the oldest
    kept.get_or_print("c")  # 120 bytes > 100: b goes
    assert (len(kept), kept.size) == (2, 80)
    kept.get_or_print("a")
    kept.get_or_print("b")
    assert printed == ["a", "b", "c", "b"]


def test_a_pdf_larger_than_the_limit_is_served_not_kept_and_zero_keeps_none(monkeypatch):
    printed = _sized(monkeypatch, {"big": 101, "small": 1})
    kept = RenderedPdfs(100)
    assert kept.get_or_print("big") == b"x" * 101
    assert (len(kept), kept.size) == (0, 0)
    off = RenderedPdfs(0)
    off.get_or_print("small")
    off.get_or_print("small")
    assert printed == ["big", "small", "small"] and len(off) == 0
