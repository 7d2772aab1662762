"""PagerDuty's own Events API v2 clients, unmodified, posting to the platform: `pagerduty`
(python-pagerduty, PagerDuty's maintained library) and `pdpyras` (its predecessor, still in
wide use). Each is given the integration's `events_api_base_url` (as an SRE lead reads it from
the API) and the integration's secret as its routing key; they post to "<base>/v2/enqueue".
python-pagerduty only accepts an https base URL, so the live server is reached through a TLS
front on 127.0.0.1 (tests/tls.py), as a TLS-terminating proxy fronts it in production.

Second actor: the IC working the incident the events open. Adversaries: a client holding
another integration's key, and a PagerDuty client pointed at an integration of another kind;
neither stores anything."""

import ssl
import warnings

import pagerduty
import pytest

from incidents.models import Incident
from incidents.services import api_token_create
from incidents.states import TimelineKind
from integrations.models import Alert, InboundDelivery
from tests.factories import UserFactory
from tests.tls import TlsFront

with warnings.catch_warnings():  # pdpyras says on import that it is deprecated
    warnings.simplefilter("ignore")
    import pdpyras

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def https(live_server, tmp_path, settings):
    """The live server behind HTTPS, and the platform's public URL set to it."""
    port = int(live_server.url.rsplit(":", 1)[1])
    front = TlsFront(port, tmp_path)
    settings.PUBLIC_BASE_URL = front.url
    yield front
    front.close()


def _base_url(client, integration) -> str:
    """The integration's Events API base URL, as an SRE lead reads it from the REST API."""
    lead = UserFactory(username="lead", groups=["sre_lead"])
    token = api_token_create(user=lead, name="setup")[1]
    listed = client.get("/api/v1/integrations/", HTTP_AUTHORIZATION=f"Token {token}").json()
    (row,) = [r for r in listed if r["id"] == str(integration.pk)]
    return row["events_api_base_url"]


def test_pagerduty_client_triggers_acknowledges_and_resolves(https, sender, catalog, client):
    pd = sender("pagerduty")
    base = _base_url(client, pd.integration)
    assert base == f"{https.url}/integrations/{pd.integration.pk}"
    events = pagerduty.EventsApiV2Client(
        pd.secret, base_url=base, verify=ssl.create_default_context(cafile=https.ca_file)
    )

    key = events.trigger(
        "Replication lag on db-primary above 120s",
        "prod-eu-west-1/db-primary-0",
        dedup_key="db-primary-replication-lag/prod-eu-west-1",
        severity="error",
        custom_details={"lag_seconds": 187},
    )

    assert key == "db-primary-replication-lag/prod-eu-west-1"
    incident = Incident.objects.get()
    assert (incident.title, incident.severity) == ("Replication lag on db-primary above 120s", "P2")
    assert incident.acknowledged_at is None

    assert events.acknowledge(key) == key
    incident.refresh_from_db()
    assert incident.acknowledged_at is not None

    assert events.resolve(key) == key
    assert Alert.objects.get(fingerprint=key).status == "resolved"
    assert incident.timeline.filter(kind=TimelineKind.ALERT_RESOLVED).count() == 1
    events.close()


def test_pdpyras_triggers_with_and_without_a_dedup_key(https, sender, catalog, client):
    pd = sender("pagerduty")
    session = pdpyras.EventsAPISession(pd.secret)
    session.url = _base_url(client, pd.integration)
    session.trust_env = False  # requests would take REQUESTS_CA_BUNDLE over `verify`
    session.verify = https.ca_file

    given = session.trigger("Checkout 5xx above 5%", "lb-1", dedup_key="checkout-5xx")
    made_up = session.trigger("Disk filling on db-3", "db-3")  # PagerDuty makes up a key

    assert given == "checkout-5xx"
    assert len(made_up) == 32 and made_up != given
    assert set(Alert.objects.values_list("fingerprint", flat=True)) == {given, made_up}
    assert Incident.objects.count() == 2
    assert session.resolve(made_up) == made_up
    assert Alert.objects.get(fingerprint=made_up).status == "resolved"


def test_another_integrations_key_is_refused_and_stores_nothing(https, sender, catalog, client):
    pd = sender("pagerduty")
    other = sender("pagerduty", name="pagerduty staging")
    events = pagerduty.EventsApiV2Client(
        other.secret,
        base_url=_base_url(client, pd.integration),
        verify=ssl.create_default_context(cafile=https.ca_file),
    )

    with pytest.raises(pagerduty.HttpError) as refused:
        events.trigger("Fake outage", "attacker", dedup_key="fake")

    assert refused.value.response.status_code == 401
    assert InboundDelivery.objects.count() == 0
    assert Incident.objects.count() == 0


def test_a_pagerduty_client_at_another_kind_of_integration_gets_404(https, sender, catalog):
    grafana = sender("grafana")
    session = pdpyras.EventsAPISession(grafana.secret)
    session.url = f"{https.url}/integrations/{grafana.integration.pk}"
    session.trust_env = False  # requests would take REQUESTS_CA_BUNDLE over `verify`
    session.verify = https.ca_file

    with pytest.raises(pdpyras.PDClientError) as refused:
        session.trigger("Checkout 5xx above 5%", "lb-1", dedup_key="checkout-5xx")

    assert refused.value.response.status_code == 404
    assert "only a PagerDuty integration" in refused.value.response.json()["detail"]
    assert InboundDelivery.objects.count() == 0
    assert Incident.objects.count() == 0
