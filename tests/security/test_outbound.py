"""The outbound client (incidents/outbound.py), which every page, comms delivery, outgoing
webhook and chat follow-up goes through: a URL is parsed once and refused when its parts are
ambiguous, its host resolved once, and the connection made to the address that was checked;
redirects are not followed and answers are read up to a cap. URLs are checked when saved too
(contact methods, webhook subscriptions, team webhooks): API 400 or a form error, nothing saved.

Every target here is a real server on a loopback address (127.0.0.1, or 127.0.0.2 for "an
internal address that must not be reached"); names resolve through `fake_dns`, so no test sends
anything, or asks anything, beyond the machine. Old rows that hold such URLs are refused at send
time in tests/timers/test_paging.py, tests/integrations/test_outgoing_webhooks.py and
tests/comms/test_updates_internal.py."""

import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from incidents import outbound
from incidents.models import ContactMethod
from incidents.notify import post_json
from integrations.models import WebhookSubscription

pytestmark = pytest.mark.django_db

# A CA and a certificate for "hooks.test" signed by it (valid until 2126), made with openssl:
# see tests/security/certs/README.md.
CERTS = Path(__file__).parent / "certs"
SECOND_LOOPBACK = "127.0.0.2"  # on Linux all of 127.0.0.0/8 is this machine


class Receiver:
    """A real HTTP(S) server on a loopback address that records each request and answers it
    with `answer(handler)` (200 and an empty body unless told otherwise)."""

    def __init__(self, host="127.0.0.1", port=0, answer=None, tls_cert=None):
        self.received: list[dict] = []
        self.server_names: list[str | None] = []
        self.done = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                receiver.received.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length),
                    }
                )
                try:
                    (answer or _answer_200)(self)
                finally:
                    receiver.done.set()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        if tls_cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls_cert)
            context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _answer_200(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


@pytest.fixture
def receivers():
    opened = []

    def make(**kwargs) -> Receiver:
        receiver = Receiver(**kwargs)
        opened.append(receiver)
        return receiver

    yield make
    for receiver in opened:
        receiver.close()


@pytest.fixture
def allow_loopback(settings):
    """127.0.0.1 (only) is allow-listed, as a network: so a URL that were sent at all would
    reach the fake receiver, and what refuses it is the rule under test."""
    settings.TENSAFE_OUTBOUND_ALLOWLIST = ["127.0.0.1/32"]
    settings.TENSAFE_OUTBOUND_TIMEOUT_SECONDS = 2


def backslash_url(port: int) -> str:
    return f"http://127.0.0.1:{port}\\@1.1.1.1/x"  # urlsplit reads 1.1.1.1, urllib3 127.0.0.1


# --- the URL, saved ----------------------------------------------------------------------
def test_backslash_url_is_400_as_a_contact_method(api, responder, receivers):
    port = receivers().port
    response = api(responder).post(
        "/api/v1/users/me/contact-methods/",
        {"kind": "slack", "target": backslash_url(port)},
        format="json",
    )
    assert response.status_code == 400
    assert "backslash" in str(response.json()["target"])
    assert not ContactMethod.objects.exists()


def test_backslash_url_is_400_as_a_webhook_subscription(api, sre_lead, receivers):
    port = receivers().port
    response = api(sre_lead).post(
        "/api/v1/webhooks/",
        {"name": "siem", "url": backslash_url(port), "events": ["declared"]},
        format="json",
    )
    assert response.status_code == 400
    assert "backslash" in str(response.json()["url"])
    assert not WebhookSubscription.objects.exists()


def test_backslash_url_is_a_form_error_in_the_subscription_admin(client, sre_lead, receivers):
    port = receivers().port
    client.force_login(sre_lead)
    response = client.post(
        "/admin/integrations/webhooksubscription/add/",
        {"name": "siem", "url": backslash_url(port), "events": ["declared"], "secret": "s"},
    )
    assert response.status_code == 200  # the form again, with its error
    assert "backslash" in response.context["adminform"].form.errors["url"][0]
    assert not WebhookSubscription.objects.exists()


def test_backslash_url_is_a_form_error_in_the_contact_method_admin(client, sre_lead, responder):
    client.force_login(sre_lead)
    response = client.post(
        "/admin/incidents/contactmethod/add/",
        {"user": responder.pk, "kind": "slack", "target": backslash_url(8000), "enabled": "on"},
    )
    assert response.status_code == 200
    assert "backslash" in response.context["adminform"].form.errors["target"][0]
    assert not ContactMethod.objects.exists()


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("http://user@hooks.test/", "user information"),
        ("http://a@127.0.0.1/", "user information"),
        ("http://127.0.0.1/\x7f", "control character"),
        ("gopher://127.0.0.1:70/_x", "only http and https"),
        ("http://10.1.2.3/hook", "non-public address 10.1.2.3"),
        ("http://rebind.test/hook", "non-public address 127.0.0.2"),
        ("http://nowhere.test/hook", "cannot resolve nowhere.test"),
    ],
)
def test_contact_method_urls_are_checked_when_saved(
    api, responder, fake_dns, settings, target, problem
):
    settings.TENSAFE_OUTBOUND_ALLOWLIST = ["127.0.0.1/32"]
    fake_dns.answer("hooks.test", "127.0.0.1")
    fake_dns.answer("rebind.test", SECOND_LOOPBACK)
    response = api(responder).post(
        "/api/v1/users/me/contact-methods/", {"kind": "slack", "target": target}, format="json"
    )
    assert response.status_code == 400
    assert problem in str(response.json()), response.json()
    assert not ContactMethod.objects.exists()


def test_a_public_contact_method_url_is_saved(api, responder, fake_dns):
    fake_dns.answer("hooks.slack.test", "93.184.215.14")  # never connected to: only saved
    response = api(responder).post(
        "/api/v1/users/me/contact-methods/",
        {"kind": "slack", "target": "https://hooks.slack.test/T1/B2"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert fake_dns.lookups == ["hooks.slack.test"]


# --- refused at send time, whatever is in the row -----------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}\\@1.1.1.1/x",
        "http://user@hooks.test:{port}/x",
        "http://a@127.0.0.1:{port}/x",
        "http://a:b@127.0.0.1:{port}/x",
    ],
)
def test_backslash_and_user_info_urls_are_never_sent(receivers, fake_dns, allow_loopback, url):
    fake_dns.answer("hooks.test", "127.0.0.1")
    receiver = receivers()
    outcome = post_json(url.format(port=receiver.port), b"{}", {})
    assert (outcome.ok, outcome.retryable) == (False, False)
    assert "backslash" in outcome.error or "user information" in outcome.error
    assert receiver.received == []


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:{port}/x\r\nX-Injected: 1", "'\\r'"),
        ("http://127.0.0.1:{port}/a b", "' '"),
        ("http://127.0.0.1:{port}/x\x00", "'\\x00'"),
        ("http://127.0.0.1:{port}/\u200bx", "'\\u200b'"),
        ("http://127.0.0.1\t:{port}/x", "'\\t'"),
    ],
)
def test_whitespace_and_control_characters_are_refused(receivers, allow_loopback, url, shown):
    receiver = receivers()
    outcome = post_json(url.format(port=receiver.port), b"{}", {})
    assert (outcome.ok, outcome.retryable) == (False, False)
    assert "whitespace or a control character" in outcome.error
    assert shown in outcome.error
    assert receiver.received == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:{port}/_x",
        "ftp://127.0.0.1:{port}/x",
        "//127.0.0.1:{port}/x",
        "127.0.0.1:{port}/x",
    ],
)
def test_other_schemes_are_refused(receivers, allow_loopback, url):
    receiver = receivers()
    outcome = post_json(url.format(port=receiver.port), b"{}", {})
    assert (outcome.ok, outcome.retryable) == (False, False)
    assert receiver.received == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http:///x", "no host"),
        ("http://127.0.0.1:99999/x", "port"),
        ("http://127.0.0.1:0/x", "port"),
        ("http://b\u00fccher.test/x", "xn--"),
        ("http://127.0.0.%31/x", "not a host name"),
        ("http://[::1/x", "cannot be read"),
        ("http://\uff21.test/x", "cannot be read|not ASCII"),
    ],
)
def test_malformed_hosts_and_ports_are_refused(url, problem):
    with pytest.raises(outbound.OutboundRefused, match=problem):
        outbound.outbound_url_parse(url)


URL_PIECES = ["http://", "https://", "[", "]", "::1", "@", "\\", ":", "80", ":0", "%", "/", "?"]
URL_PIECES += ["#", "a.test", "127.0.0.1", "\uff21", "\u0130", "xn--", "..", "-", ";", "\x00", " "]


@hypothesis_settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(st.text(max_size=40), st.lists(st.sampled_from(URL_PIECES), max_size=10).map("".join))
)
def test_any_string_is_read_or_refused_by_name(url):
    """Whatever a user types, parsing ends in a URL or in OutboundRefused (a 400 naming the
    problem), never in another exception (a 500)."""
    try:
        target = outbound.outbound_url_parse(url)
    except outbound.OutboundRefused as refused:
        assert str(refused)
    else:
        assert target.scheme in ("http", "https") and target.host and 0 < target.port < 65536


def test_a_url_the_two_parsers_read_differently_is_refused(monkeypatch):
    real = outbound.parse_url
    monkeypatch.setattr(
        outbound, "parse_url", lambda url: real(url.replace("hooks.test", "127.0.0.1"))
    )
    with pytest.raises(outbound.OutboundRefused, match="read differently"):
        outbound.outbound_url_parse("http://hooks.test/x")


# --- resolve once, connect to what was checked ---------------------------------------------------
def test_dns_rebinding_cannot_switch_the_address(receivers, fake_dns, allow_loopback):
    """The first answer is the allow-listed 127.0.0.1, every later one 127.0.0.2 (not
    allow-listed), where a second server listens on the same port. The client asks once and
    connects to the address it checked."""
    checked = receivers()
    internal = receivers(host=SECOND_LOOPBACK, port=checked.port)
    fake_dns.answer("rebind.test", "127.0.0.1", SECOND_LOOPBACK)

    outcome = post_json(f"http://rebind.test:{checked.port}/hook", b'{"a":1}', {})

    assert outcome.ok, outcome
    assert fake_dns.lookups == ["rebind.test"]
    assert internal.received == []
    (request,) = checked.received
    assert request["headers"]["Host"] == f"rebind.test:{checked.port}"  # the name, not the IP
    assert (request["path"], request["body"]) == ("/hook", b'{"a":1}')


def test_a_name_that_first_resolves_to_an_internal_address_is_refused(
    receivers, fake_dns, allow_loopback
):
    checked = receivers()
    internal = receivers(host=SECOND_LOOPBACK, port=checked.port)
    fake_dns.answer("rebind.test", SECOND_LOOPBACK, "127.0.0.1")
    outcome = post_json(f"http://rebind.test:{checked.port}/hook", b"{}", {})
    assert (outcome.ok, outcome.retryable) == (False, False)
    assert "non-public address 127.0.0.2" in outcome.error
    assert fake_dns.lookups == ["rebind.test"]
    assert checked.received == internal.received == []


# --- redirects, size, time -----------------------------------------------------------------------
def test_a_redirect_to_an_internal_address_is_not_followed(receivers, allow_loopback):
    internal = receivers(host=SECOND_LOOPBACK)

    def redirect(handler):
        handler.send_response(302)
        handler.send_header("Location", f"http://{SECOND_LOOPBACK}:{internal.port}/admin")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    first = receivers(answer=redirect)
    outcome = post_json(f"http://127.0.0.1:{first.port}/hook", b"{}", {})
    assert (outcome.ok, outcome.retryable, outcome.code) == (False, False, 302)
    assert len(first.received) == 1
    assert internal.received == []


BIG = 32 * 1024 * 1024  # more than the loopback socket buffers of both ends hold


def test_an_oversized_answer_is_not_read_past_the_cap(receivers, allow_loopback, settings):
    """The receiver offers 32 MiB; the client reads 64 KiB and drops the connection, so the
    receiver cannot write it all (it is cut off once the socket buffers are full)."""
    settings.TENSAFE_OUTBOUND_MAX_RESPONSE_BYTES = 64 * 1024
    sends = []  # per request: [bytes written, cut off]

    def flood(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(BIG))
        handler.end_headers()
        chunk, send = b"x" * 65536, [0, False]
        sends.append(send)
        try:
            while send[0] < BIG:
                handler.wfile.write(chunk)
                send[0] += len(chunk)
        except OSError:
            send[1] = True

    receiver = receivers(answer=flood)
    url = f"http://127.0.0.1:{receiver.port}/hook"
    assert post_json(url, b"{}", {}).ok
    assert receiver.done.wait(10)
    (send,) = sends
    assert send[1] and send[0] < BIG

    response = outbound.outbound_post(url, b"{}", {})
    assert (response.status, len(response.body), response.truncated) == (200, 64 * 1024, True)


def test_a_slow_answer_times_out(receivers, allow_loopback, settings):
    settings.TENSAFE_OUTBOUND_TIMEOUT_SECONDS = 0.3

    def slow(handler):
        time.sleep(1.5)
        _answer_200(handler)

    receiver = receivers(answer=slow)
    started = time.monotonic()
    outcome = post_json(f"http://127.0.0.1:{receiver.port}/hook", b"{}", {})
    assert (outcome.ok, outcome.retryable, outcome.error) == (False, True, "timed out")
    assert time.monotonic() - started < 1.2


# --- HTTPS: connected to the checked address, verified against the name --------------------------
@pytest.fixture
def tls_receiver(receivers, fake_dns, allow_loopback, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(CERTS / "ca.pem"))  # trust the test CA only
    fake_dns.answer("hooks.test", "127.0.0.1")
    fake_dns.answer("other.test", "127.0.0.1")
    return receivers(tls_cert=(CERTS / "hooks.test.pem", CERTS / "hooks.test-key.pem"))


def test_https_keeps_the_host_name_for_sni_and_certificate(tls_receiver, fake_dns):
    outcome = post_json(f"https://hooks.test:{tls_receiver.port}/hook", b"{}", {})
    assert outcome.ok, outcome
    assert tls_receiver.server_names == ["hooks.test"]
    assert tls_receiver.received[0]["headers"]["Host"] == f"hooks.test:{tls_receiver.port}"
    assert fake_dns.lookups == ["hooks.test"]


def test_https_refuses_a_certificate_for_another_name(tls_receiver):
    """other.test resolves to the same server, whose certificate names hooks.test only."""
    outcome = post_json(f"https://other.test:{tls_receiver.port}/hook", b"{}", {})
    assert (outcome.ok, outcome.retryable) == (False, True)
    assert outcome.error == "connection failed: SSLError"
    assert tls_receiver.received == []


def test_the_https_connection_is_built_for_the_name_with_verification(fake_dns, allow_loopback):
    fake_dns.answer("hooks.test", "127.0.0.1")
    target = outbound.outbound_url_parse("https://hooks.test:8443/x")
    checked = outbound.outbound_resolve(target)
    connection = outbound.outbound_pool(target, checked)._new_conn()
    assert isinstance(connection, outbound.PinnedHTTPSConnection)
    assert (connection.host, connection.port) == ("hooks.test", 8443)
    assert connection.server_hostname in (None, "hooks.test")  # None: urllib3 uses .host
    assert connection.cert_reqs == "CERT_REQUIRED"
    assert connection.checked_addresses == ((2, ("127.0.0.1", 8443)),)
