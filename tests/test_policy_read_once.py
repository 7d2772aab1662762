"""The policy in force is read once per declaration or re-plan (`policy_read_once`), and anew
everywhere else: an SRE lead's edit applies to the next declaration, never to half of one."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.models import EscalationContact, EscalationRule, PolicySettings, SeverityPolicy
from incidents.selectors import policy_for, policy_read_once, policy_settings
from incidents.services.timers import deadlines_replan
from tests.factories import declare

pytestmark = pytest.mark.django_db


def _reads(queries, table: str) -> int:
    return sum(1 for q in queries if q["sql"].startswith("SELECT") and f'"{table}"' in q["sql"])


def test_a_declaration_reads_its_severity_policy_once_and_costs_at_most_30_queries(ic_user):
    declare(actor=ic_user, title="First of the day")  # the day's first declaration seeds nothing
    with CaptureQueriesContext(connection) as queries:
        declare(actor=ic_user, title="Checkout failing", severity="P2")
    # Before policy_read_once and the batched deadline rows: 61 queries, the policy read 7 times.
    assert len(queries) <= 30, "\n".join(q["sql"][:120] for q in queries.captured_queries)
    assert _reads(queries.captured_queries, "incidents_severitypolicy") == 1
    assert _reads(queries.captured_queries, "incidents_policysettings") == 1
    assert _reads(queries.captured_queries, "incidents_escalationrule") == 1


def test_a_replan_reads_the_policy_once(ic_user):
    incident = declare(actor=ic_user, severity="P1")
    with CaptureQueriesContext(connection) as queries:
        deadlines_replan(incident)
    assert _reads(queries.captured_queries, "incidents_severitypolicy") == 1
    assert _reads(queries.captured_queries, "incidents_policysettings") == 1


def test_inside_a_block_reads_are_reused_and_outside_an_edit_applies_at_once():
    with policy_read_once():
        first = policy_for("P2")
        SeverityPolicy.objects.filter(severity="P2").update(target_resolution_minutes=45)
        assert policy_for("P2") is first, "one read per block"
        with policy_read_once():  # nested: the outer block's reads stand
            assert policy_for("P2") is first
    assert policy_for("P2").target_resolution_minutes == 45
    assert policy_for("P2") is not policy_for("P2"), "outside a block every call reads"


def _policy_gone():
    for model in (PolicySettings, SeverityPolicy, EscalationRule, EscalationContact):
        model.objects.all().delete()


def test_a_database_without_a_policy_gets_the_procedures_defaults():
    _policy_gone()
    assert policy_for("P1").severity == "P1"
    assert policy_settings().stability_window_minutes == 15
    with policy_read_once():
        _policy_gone()
        assert policy_settings().triage_window_minutes > 0
        assert policy_for("P3").severity == "P3"
