"""Data for the schema fuzzer: the demo data (`manage.py demo_seed`: people of every rank and
group, on-call schedules, five incidents in every state, a restricted security incident, a
resolved P1 with its review) plus what the demo leaves out (action items, an edited review
timeline row, an integration, an outgoing webhook, a contact method), written once per
module inside a transaction that is rolled back at the end; each operation's test runs in a
savepoint of its own (pytest-django), so one operation's writes never reach the next.

`FuzzData.path_parameters` maps each path of the schema to real values for its parameters,
so the fuzzer reaches existing objects as well as missing ones.
"""

import inspect
import os
import socket
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import schemathesis.pytest._test_builder as schemathesis_builder
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test import override_settings
from django.utils import timezone

from incidents import services as incident_services
from incidents.models import ChecklistItem, ContactMethod, Incident, Schedule
from incidents.outbox import OUTBOX_KINDS
from incidents.services import api_token_create
from integrations.models import Integration, WebhookSubscription
from integrations.services.integrations import integration_create, subscription_create
from pir import services as pir_services
from pir.digests import action_digests_plan
from pir.models import ActionItem, PirTimelineEntry, PostIncidentReview
from tests.conftest import kept_for_module
from tests.factories import UserFactory

# The fuzzing user may do everything a person can: SRE lead (policy, people, integrations),
# incident commander, security (sees restricted incidents) and responder.
FUZZ_GROUPS = ["sre_lead", "incident_commander", "security", "responder"]


@dataclass
class FuzzData:
    token: str
    path_parameters: dict[str, list[dict]] = field(default_factory=dict)


def _loopback_getaddrinfo(host, port, *args, **kwargs):
    """Every host name is 127.0.0.1: URLs the fuzzer makes up (webhooks, contact methods) go
    through the real outbound check without a DNS query leaving the machine."""
    port = int(port) if isinstance(port, int | str) and str(port).isdigit() else 0
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]


# PostgreSQL hands out ids from sequences that rolled-back tests have advanced, so the seeded
# rows' ids would depend on which tests ran before; the fuzzer's generated ids then hit or
# miss them differently in a full run and alone. Restarting the sequences high makes every
# run the same (SQLite reuses ids freed by rollbacks anyway). Committed rows (migrations)
# have small ids; the tests after this module go on from here.
SEQUENCE_BASE = 10_000_000


def _pin_sequences() -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for sequence in connection.introspection.sequence_list():
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, %s), %s)",
                [sequence["table"], sequence["column"], SEQUENCE_BASE],
            )


def _seed() -> FuzzData:
    _pin_sequences()
    with open(os.devnull, "w") as quiet:
        call_command("demo_seed", stdout=quiet)
    lead = UserFactory(username="fuzz-lead", rank="engineering_manager", groups=FUZZ_GROUPS)
    _, token = api_token_create(user=lead, name="fuzz")
    pir = PostIncidentReview.objects.order_by("pk").first()
    owner = UserFactory(username="fuzz-owner", rank="engineer", groups=["responder"])
    for n, priority in enumerate(("P1", "P2"), start=1):
        pir_services.action_item_create(
            actor=lead,
            pir_id=pir.pk,
            action=f"Fuzz follow-up {n}",
            priority=priority,
            owner=owner,
            due_date=timezone.localdate() + timedelta(days=14),
        )
    pir_services.pir_entry_add(
        actor=lead, pir_id=pir.pk, occurred_at=pir.incident.detected_at, text="Edited by hand."
    )
    action_digests_plan()  # outbox rows for /api/v1/outbox/
    integration_create(actor=lead, kind="alertmanager", name="Fuzz Alertmanager")
    subscription_create(
        actor=lead,
        name="Fuzz webhook",
        url="https://hooks.tensafe.test/fuzz",
        events=["declared", "resolved"],
    )
    incident_services.contact_method_create(
        actor=lead, user=lead, kind="email", target="fuzz-lead@tensafe.test"
    )
    return FuzzData(token=token, path_parameters=_path_parameters(lead))


def _path_parameters(lead) -> dict[str, list[dict]]:
    incidents = list(Incident.objects.order_by("pk").values_list("pk", flat=True))
    pirs = list(PostIncidentReview.objects.order_by("pk").values_list("pk", flat=True))
    checklist = [
        {"id": incident, "item_id": item}
        for incident, item in ChecklistItem.objects.order_by("pk").values_list("incident", "pk")
    ]
    entries = [
        {"id": pir, "entry_id": entry}
        for pir, entry in PirTimelineEntry.objects.order_by("pk").values_list("pir", "pk")
    ]
    items = [
        {"id": pir, "item_id": item}
        for pir, item in ActionItem.objects.order_by("pk").values_list("pir", "pk")
    ]
    return {
        "/api/v1/incidents/{id}/": [{"id": pk} for pk in incidents],
        "/api/v1/incidents/{id}/checklists/{item_id}/": checklist,
        "/api/v1/pirs/{id}/": [{"id": pk} for pk in pirs],
        "/api/v1/pirs/{id}/timeline/{entry_id}/": entries,
        "/api/v1/pirs/{id}/action-items/{item_id}/": items,
        "/api/v1/integrations/{id}/": [
            {"id": str(pk)}
            for pk in Integration.objects.order_by("created_at").values_list("pk", flat=True)
        ],
        "/api/v1/webhooks/{id}/": [
            {"id": pk}
            for pk in WebhookSubscription.objects.order_by("pk").values_list("pk", flat=True)
        ],
        "/api/v1/users/me/contact-methods/{method_id}/": [
            {"method_id": pk}
            for pk in ContactMethod.objects.filter(user=lead)
            .order_by("pk")
            .values_list("pk", flat=True)
        ],
        "/api/v1/outbox/{kind}/{row_id}/": [
            {"kind": kind, "row_id": pk}
            for kind, spec in sorted(OUTBOX_KINDS.items())
            for pk in spec.model.objects.order_by("pk").values_list("pk", flat=True)[:5]
        ],
        "/api/v1/schedules/{slug}/": [
            {"slug": slug}
            for slug in Schedule.objects.order_by("pk").values_list("slug", flat=True)
        ],
    }


@pytest.fixture(scope="module")
def fuzz_data(django_db_setup, django_db_blocker):
    # The app runs in this thread, on this connection: Django's request signals would close
    # the connection (and with it the open transaction) after every request, as the test
    # client knows (django.test.client.ClientHandler does the same).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with (
            pytest.MonkeyPatch.context() as patch,
            override_settings(TENSAFE_OUTBOUND_ALLOWLIST=["127.0.0.1"]),
            kept_for_module(django_db_blocker),
        ):
            patch.setattr(socket, "getaddrinfo", _loopback_getaddrinfo)
            yield _seed()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


# --- each operation's Hypothesis test built when it runs, not when it is collected -------------
# Schemathesis builds an operation's test (its examples and every coverage case) while
# collecting, for all 75 operations, in every pytest-xdist process: about 8 s of CPU each,
# although each process runs a quarter of them. Collection gets a stand-in with the test's
# signature; the real test is built in the process that runs it, just before it runs. The
# builder is schemathesis's own (a private module: the controller's check in tests/conftest.py
# fails the run if an upgrade leaves any operation unfuzzed).
_build_operation_test = schemathesis_builder.build_operation_test


def _built_when_run(**kwargs):
    def stand_in(*args, **kw):
        raise RuntimeError("the fuzzer's operation test ran before it was built")

    # What the built test asks pytest for: the test's own arguments but those Hypothesis draws.
    signature = inspect.signature(kwargs["test_func"])
    drawn = {"case", *kwargs["given_kwargs"]}
    stand_in.__signature__ = signature.replace(
        parameters=[p for name, p in signature.parameters.items() if name not in drawn]
    )
    stand_in.build = lambda: _build_operation_test(**kwargs)
    return stand_in


schemathesis_builder.build_operation_test = _built_when_run


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    build = getattr(item.obj, "build", None)
    if build is not None:
        item.obj = build()


def pytest_sessionfinish(session):
    """In a pytest-xdist process: hand the controller what this process fuzzed, so the whole
    run is checked there (tests/conftest.py), not just one process's share."""
    if hasattr(session.config, "workeroutput"):
        from .test_schema_fuzz import EXAMPLES, SENT

        session.config.workeroutput["fuzz_sent"] = dict(SENT)
        session.config.workeroutput["fuzz_examples"] = EXAMPLES
