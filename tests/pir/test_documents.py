"""The review as PDF (WeasyPrint, no network), Markdown, and sanitised HTML."""

import io
import socket
from datetime import timedelta

import pytest
from pypdf import PdfReader

from pir.models import PirTimelineEntry
from pir.render.markdown import render_markdown
from pir.render.pdf import LocalOnlyFetcher, html_to_pdf
from pir.sections import HEADER_FIELDS, IMPACT_FIELDS, SECTIONS
from tests.pir.conftest import fill

pytestmark = pytest.mark.django_db

HOSTILE = (
    "Hello <script>alert('x')</script> **bold** <style>body{display:none}</style>"
    '<a href="javascript:alert(1)">js</a> <a href="https://ok.example/" onclick="steal()">ok</a>'
    '<img src="https://tracker.example/p.png" onerror="steal()">'
    '<p onmouseover="steal()" style="color:red">para</p>'
)


def _pdf_text(content: bytes) -> tuple[str, int]:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages), len(reader.pages)


PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket during the test fails loudly."""
    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise OSError(f"network access refused in tests: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_markdown_is_rendered_and_sanitised():
    html = str(render_markdown(HOSTILE))
    assert "<strong>bold</strong>" in html
    for bad in (
        "<script",
        "alert('x')",
        "<style",
        "display:none",
        "javascript:",
        "onclick",
        "onerror",
        "onmouseover",
        "style=",
        "<img",
        "tracker.example",
    ):
        assert bad not in html, bad
    assert 'href="https://ok.example/"' in html


def test_the_api_serves_sanitised_html_beside_the_markdown(p1_pir, api):
    pir, ic = p1_pir
    response = api(ic).patch(
        f"/api/v1/pirs/{pir.pk}/",
        {"summary": HOSTILE, "went_well": ["<b onclick='x()'>fast</b> rollback"]},
        format="json",
    )
    body = response.json()
    assert body["summary"] == HOSTILE  # the source is kept as written
    assert "<script" not in body["html"]["summary"]
    assert "javascript:" not in body["html"]["summary"]
    assert body["html"]["went_well"] == ["<b>fast</b> rollback"]


def test_pdf_has_every_section_the_timeline_and_page_numbers(p1_pir, api, no_network):
    pir, ic = p1_pir
    fill(pir, summary=HOSTILE)
    response = api(ic).get(f"/api/v1/pirs/{pir.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    text, pages = _pdf_text(response.content)
    for name in HEADER_FIELDS:
        assert f"{name}:" in text, name
    for section in SECTIONS:
        assert section.heading in text, section.heading
    for label, _field in IMPACT_FIELDS:
        assert label in text
    for entry in pir.entries.all():
        assert entry.text in text
    assert "Communications conformance" in text
    assert f"Page 1 of {pages}" in text
    assert "alert(" not in text and "display:none" not in text
    assert no_network == []


def test_a_long_timeline_repeats_its_header_on_every_page(p1_pir, api):
    pir, ic = p1_pir
    start = pir.incident.detected_at
    PirTimelineEntry.objects.bulk_create(
        PirTimelineEntry(pir=pir, occurred_at=start + timedelta(minutes=n), text=f"Step number {n}")
        for n in range(120)
    )
    content = api(ic).get(f"/api/v1/pirs/{pir.pk}/pdf/").content
    reader = PdfReader(io.BytesIO(content))
    with_rows = [p.extract_text() for p in reader.pages if "Step number" in p.extract_text()]
    assert len(with_rows) >= 2
    assert all("Time (UTC)" in page for page in with_rows)
    assert "Step number 119" in "\n".join(with_rows)


def test_the_fetcher_refuses_everything_but_data_uris_and_our_static_files(no_network):
    fetcher = LocalOnlyFetcher()
    html = f"""<html><head>
      <link rel="stylesheet" href="https://cdn.example/evil.css">
      <link rel="stylesheet" href="pir-print.css">
      <style>@import url("http://fonts.example/font.css");
             @font-face {{ font-family: X; src: url("https://fonts.example/x.woff2"); }}</style>
      </head><body>
      <img src="http://127.0.0.1:9/pixel.png">
      <img src="file:///etc/passwd">
      <img src="{PIXEL}">
      <p>text</p></body></html>"""
    pdf = html_to_pdf(html, fetcher)
    assert pdf.startswith(b"%PDF")
    refused = "\n".join(fetcher.refused)
    for url in (
        "https://cdn.example/evil.css",
        "http://fonts.example/font.css",
        "https://fonts.example/x.woff2",
        "http://127.0.0.1:9/pixel.png",
        "file:///etc/passwd",
    ):
        assert url in refused
    assert "pir-print.css" not in refused and "data:" not in refused
    assert no_network == []


def test_markdown_export_fills_the_template(p1_pir, api):
    pir, ic = p1_pir
    fill(pir)
    api(ic).post(
        f"/api/v1/pirs/{pir.pk}/action-items/",
        {
            "action": "Add config validation | CI",
            "priority": "P1",
            "owner": ic.username,
            "due_date": "2026-04-01",
        },
        format="json",
    )
    response = api(ic).get(f"/api/v1/pirs/{pir.pk}/markdown/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    text = response.content.decode()
    assert text.startswith(f"# Post-Incident Review: {pir.incident.title}\n")
    positions = [text.index(f"{'#' * s.level} {s.heading}\n") for s in SECTIONS]
    assert positions == sorted(positions)
    for name in HEADER_FIELDS:
        assert f"**{name}:**" in text
    assert f"**Incident ID:** {pir.incident.reference}" in text
    assert "| Add config validation \\| CI | " in text
    assert "| P1 |" in text
    assert "1. Why? The pool was empty" in text
    for entry in pir.entries.all():
        assert entry.text in text


def test_the_html_page_shows_the_same_document(p1_pir, client):
    pir, ic = p1_pir
    client.force_login(ic)
    response = client.get(f"/pirs/{pir.pk}/")
    assert response.status_code == 200
    assert "Root Cause Analysis" in response.content.decode()
