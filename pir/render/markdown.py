"""Rich text in a review is Markdown written by people; it is rendered to HTML and then
sanitised with nh3 (ammonia) against an allow-list, so no script, style, event handler,
`javascript:` URL or remote image survives into a page or a PDF."""

from __future__ import annotations

import markdown as md
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote", "ul", "ol", "li",
    "a", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "del",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
# No images: a PDF must never fetch a remote file, and a page never shows one it did not vet.
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}
EXTENSIONS = ["tables", "fenced_code", "sane_lists"]


def sanitise_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_markdown(text: str) -> SafeString:
    """Markdown -> sanitised HTML, safe to put in a template."""
    if not text or not text.strip():
        return SafeString("")
    html = sanitise_html(md.markdown(text, extensions=EXTENSIONS))
    return mark_safe(html)  # noqa: S308  # nosec B308 B703  # nh3 sanitised it


def render_markdown_inline(text: str) -> SafeString:
    """One list item (a "why", a factor): Markdown without the wrapping paragraph."""
    html = str(render_markdown(text)).strip()
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        html = html[3:-4]
    return mark_safe(html)  # noqa: S308  # nosec B308 B703  # render_markdown sanitised it
