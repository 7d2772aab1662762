"""The review as a PDF (WeasyPrint). Nothing leaves the machine while rendering: fonts come
from fontconfig (DejaVu), the stylesheet from our own static files, and the URL fetcher
refuses every URL but `data:` URIs and files under our static folders."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from ..models import PostIncidentReview
from .document import PIR_STATIC, pir_html, static_roots

log = logging.getLogger(__name__)


class LocalOnlyFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that fetches nothing from any network: `data:` URIs and files
    inside our static folders only. Everything else is refused (and remembered in `refused`,
    so tests and logs can say what a document tried to load)."""

    def __init__(self):
        super().__init__(allowed_protocols={"data", "file"}, allow_redirects=False)
        self.refused: list[str] = []
        self._roots = static_roots()

    def fetch(self, url, headers=None):
        scheme = url.split(":", 1)[0].lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            parts = urlsplit(url)
            if parts.netloc in ("", "localhost"):
                path = Path(unquote(parts.path)).resolve()
                if any(path.is_relative_to(root) for root in self._roots) and path.is_file():
                    return URLFetcherResponse(url, path.read_bytes(), _headers(path))
        self.refused.append(url)
        log.info("PIR render refused to fetch %s", url)
        raise ValueError(f"refused to fetch {url!r}: only data: URIs and our static files")


def _headers(path: Path) -> dict:
    types = {".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}
    return {"Content-Type": types.get(path.suffix, "application/octet-stream")}


def html_to_pdf(html: str, fetcher: LocalOnlyFetcher | None = None) -> bytes:
    return HTML(
        string=html,
        base_url=PIR_STATIC.as_uri() + "/",
        url_fetcher=fetcher or LocalOnlyFetcher(),
    ).write_pdf()


class RenderedPdfs:
    """The PDFs this process printed, by the SHA-256 of their HTML, least recently used
    dropped first, at most `limit` bytes in all. The HTML is everything a PDF shows (the
    review, its incident and timeline, names, the stylesheet's name; the stylesheet itself
    changes only with a deploy, which starts new processes), so a hit is the PDF that
    printing again would give, and whoever asks has been allowed to build that HTML."""

    def __init__(self, limit: int):
        self.limit = limit
        self.size = 0
        self._pdfs: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_print(self, html: str) -> bytes:
        key = hashlib.sha256(html.encode()).digest()
        with self._lock:
            pdf = self._pdfs.get(key)
            if pdf is not None:
                self._pdfs.move_to_end(key)
                return pdf
        # Printed outside the lock: two readers of one new review may both print it (the same
        # bytes), and nobody waits on another review's print.
        pdf = html_to_pdf(html)
        if 0 < len(pdf) <= self.limit:
            with self._lock:
                if key not in self._pdfs:
                    self._pdfs[key] = pdf
                    self.size += len(pdf)
                while self.size > self.limit:
                    _, dropped = self._pdfs.popitem(last=False)
                    self.size -= len(dropped)
        return pdf

    def __len__(self) -> int:
        return len(self._pdfs)


RENDERED = RenderedPdfs(settings.TENSAFE_PIR_PDF_CACHE_BYTES)


def pir_pdf(pir: PostIncidentReview) -> bytes:
    return RENDERED.get_or_print(pir_html(pir, for_pdf=True))
