from html.parser import HTMLParser

import pytest

from tests.factories import ServiceFactory, UserFactory, declare


class PageParser(HTMLParser):
    """Collects what the page tests look at: scripts, inline handlers and styles, buttons."""

    def __init__(self):
        super().__init__()
        self.inline_scripts = 0
        self.script_srcs = []
        self.inline_handlers = []
        self.style_attrs = 0
        self.style_tags = 0
        self.buttons = []
        self._in_script = False
        self._button = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in attrs:
            if name.startswith("on"):
                self.inline_handlers.append((tag, name))
        if "style" in attrs:
            self.style_attrs += 1
        if tag == "style":
            self.style_tags += 1
        if tag == "script":
            if attrs.get("src"):
                self.script_srcs.append(attrs["src"])
            else:
                self.inline_scripts += 1
        if tag == "button":
            self._button = {"attrs": attrs, "text": ""}

    def handle_data(self, data):
        if self._button is not None:
            self._button["text"] += data

    def handle_endtag(self, tag):
        if tag == "button" and self._button is not None:
            self._button["text"] = " ".join(self._button["text"].split())
            self.buttons.append(self._button)
            self._button = None


def parse(response) -> PageParser:
    parser = PageParser()
    parser.feed(response.content.decode())
    return parser


@pytest.fixture
def ic(db):
    return UserFactory(username="emma", rank="engineering_manager", groups=["incident_commander"])


@pytest.fixture
def ic_client(client, ic):
    client.force_login(ic)
    return client


@pytest.fixture
def service(db):
    return ServiceFactory(slug="api-gateway", name="API Gateway")


@pytest.fixture
def incident(ic, service):
    return declare(actor=ic, title="Gateway 502s", severity="P1", services=[service])
