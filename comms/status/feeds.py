"""Atom and RSS feeds of public status-page updates (django.contrib.syndication)."""

from django.contrib.syndication.views import Feed
from django.template.defaultfilters import linebreaksbr
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed

from incidents.redaction import incident_public_services, incident_public_title

from ..models import Update
from .selectors import status_feed_updates


class StatusRssFeed(Feed):
    feed_type = Rss201rev2Feed
    title = "TenSafe status"
    description = "Public updates about incidents affecting TenSafe's services."
    # The organisation, never a person: Atom needs an author when entries have none.
    author_name = "TenSafe"

    def link(self):
        return reverse("status-page")

    def items(self):
        return status_feed_updates()

    def item_title(self, item: Update) -> str:
        label = item.get_template_display() if item.template else "Update"
        return f"{incident_public_title(item.incident)}: {label}"

    def item_description(self, item: Update) -> str:
        """The update's plain text as the HTML both formats carry (Atom's summary is
        type="html", RSS readers render a description as HTML): escaped, its line breaks
        kept. Sent as it was, `POST /v1/<model>/infer` reached readers as `/v1//infer`."""
        return linebreaksbr(item.text, autoescape=True)

    def item_link(self, item: Update) -> str:
        """The update on its incident's permanent page, which outlives the front page."""
        return f"{reverse('status-incident', args=[item.incident_id])}#update-{item.pk}"

    def item_pubdate(self, item: Update):
        return item.posted_at

    def item_updateddate(self, item: Update):
        return item.posted_at

    def item_categories(self, item: Update) -> list[str]:
        incident = item.incident
        return [s.name for s in incident_public_services(incident, incident.services.all())]


class StatusAtomFeed(StatusRssFeed):
    feed_type = Atom1Feed
    subtitle = StatusRssFeed.description
