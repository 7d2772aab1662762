"""`incidents.db.planned_once_cursor`: the hand-written statements sent on nearly every API
request (the token lookup, the incident detail's version) are prepared once per connection on
PostgreSQL, then executed with new parameters; they are still logged and counted like every
other query, and errors are Django's."""

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from incidents.api.authentication import token_with_user
from incidents.db import planned_once_cursor
from incidents.models.accounts import token_digest
from incidents.selectors import incident_detail_version
from incidents.services import api_token_create
from tests.factories import UserFactory, declare

pytestmark = pytest.mark.django_db


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [statement for (statement,) in cursor.fetchall()]


@pytest.mark.postgres
def test_the_token_and_version_queries_are_planned_once_per_connection():
    from django.utils import timezone

    user = UserFactory(groups=["incident_commander"])
    _, token = api_token_create(user=user, name="ci")
    incident = declare(user)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert token_with_user(token_digest(token)).user == user
            assert incident_detail_version(user, incident.pk, timezone.now()) is not None
    assert len(queries.captured_queries) == 6, "each execution is logged and counted"
    prepared = _prepared()
    assert len([s for s in prepared if "incidents_apitoken" in s]) == 1
    assert len([s for s in prepared if "i.mitigated_at" in s]) == 1


@pytest.mark.postgres
def test_the_list_rows_query_is_planned_once_per_connection():
    from incidents.api.list_rows import incident_list_rows_json
    from incidents.models import Incident

    user = UserFactory(groups=["incident_commander"])
    for title in ("Checkout errors", "Search latency"):
        declare(user, title=title)
    ids = Incident.objects.order_by("-pk").values_list("pk", flat=True)
    for page in (ids[:1], ids[1:2], ids):
        assert incident_list_rows_json(page).startswith(b"[{")
    assert len([s for s in _prepared() if "json_agg" in s]) == 1


@pytest.mark.postgres
def test_statements_with_new_parameters_reuse_the_statement():
    with planned_once_cursor() as cursor:
        for n in (1, 2, 3):
            cursor.execute("SELECT %s::int + 40", [n])
            assert cursor.fetchone() == (40 + n,)
    assert len([s for s in _prepared() if "+ 40" in s]) == 1


def test_errors_are_djangos_and_other_databases_get_a_plain_cursor():
    with pytest.raises(DatabaseError), planned_once_cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table_here")
