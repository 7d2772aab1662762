"""The review as one HTML document: the page `/pirs/<id>/document/` shows, and what
`pdf.py` prints. Kept apart from WeasyPrint, whose import costs most of a second of CPU in
every process that loads the URLconf (each web process, Celery worker and `manage.py` command);
`pdf.py` is imported only when a PDF is asked for."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string

from ..models import PostIncidentReview
from .context import pir_document

PIR_STATIC = Path(__file__).resolve().parent.parent / "static" / "pir"
STYLESHEET = "pir-print.css"


def static_roots() -> list[Path]:
    roots = [PIR_STATIC, *(Path(d) for d in settings.STATICFILES_DIRS), Path(settings.STATIC_ROOT)]
    return [r.resolve() for r in roots]


def pir_html(pir: PostIncidentReview, *, for_pdf: bool) -> str:
    context = pir_document(pir)
    context["for_pdf"] = for_pdf
    context["stylesheet"] = STYLESHEET
    return render_to_string("pir/document.html", context)
