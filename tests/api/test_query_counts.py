"""The incident list costs a fixed number of queries, whatever the page size
(docs/architecture.md, Conventions: hot lists)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import services
from incidents.models import Service
from tests.conftest import kept_for_module
from tests.factories import UserFactory, declare, put_on_call

from .conftest import INCIDENTS

pytestmark = pytest.mark.django_db

# Measured for a page built anew, its count counted (the kept count is
# tests/api/test_list_cache.py's): token joined to its user, the user's groups (visibility),
# the version (incidents/api/list_cache.py), COUNT, then on PostgreSQL the page's ids and its
# rows written as JSON by the database; on SQLite the page (its ids a subquery; declared_by and
# acknowledged_by joined), services, and the active roles with their users
# (incidents/api/list_rows.py): 6 on PostgreSQL, 7 on SQLite, for a page of 5 or of 50. A kept
# page costs the first three.
EXPECTED_QUERIES = 6 if connection.vendor == "postgresql" else 7


@pytest.fixture(autouse=True)
def counted_each_time(settings):
    settings.TENSAFE_INCIDENT_LIST_COUNT_SECONDS = 0


@pytest.fixture(scope="module")
def sixty(django_db_setup, django_db_blocker):
    """Sixty incidents with roles and acknowledgements, and the people who read them, written
    once for the module (the tests only read them)."""
    with kept_for_module(django_db_blocker):
        people = {
            "ic_user": UserFactory(rank="engineering_manager", groups=["incident_commander"]),
            "responder": UserFactory(rank="engineer", groups=["responder"]),
            "sre_lead": UserFactory(rank="senior_engineer", groups=["sre_lead"], is_staff=True),
            "security_user": UserFactory(rank="security_lead", groups=["security"]),
        }
        ic_user, responder = people["ic_user"], people["responder"]
        catalog = list(Service.objects.order_by("slug"))
        put_on_call(ic_user)  # the IC of a P3 or P4 is the on-call engineer (3.1)
        lead = UserFactory(rank="senior_engineer", groups=["responder"])
        for n in range(60):
            incident = declare(
                actor=ic_user,
                title=f"Incident {n}",
                severity=f"P{n % 4 + 1}",
                services=catalog[n % 3 : n % 3 + 2],
            )
            services.incident_assign_role(
                actor=ic_user, incident_id=incident.pk, role="incident_commander", user=ic_user
            )
            services.incident_assign_role(
                actor=ic_user, incident_id=incident.pk, role="tech_lead", user=lead
            )
            if n % 2:
                services.incident_acknowledge(actor=responder, incident_id=incident.pk)
            if n % 5 == 0:
                services.incident_assign_role(
                    actor=ic_user, incident_id=incident.pk, role="sme", user=responder
                )
        yield people


@pytest.fixture
def sixty_incidents(sixty):
    return 60


# The module's readers are the people the sixty incidents were written with.
@pytest.fixture
def responder(sixty):
    return sixty["responder"]


@pytest.fixture
def sre_lead(sixty):
    return sixty["sre_lead"]


@pytest.fixture
def security_user(sixty):
    return sixty["security_user"]


def _measure(client, query):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(INCIDENTS + query)
    assert response.status_code == 200, response.content
    return response.json(), captured


@pytest.mark.parametrize("who", ["sre_lead", "security_user"])
def test_list_query_count_does_not_grow_with_page_size(api, request, sixty_incidents, who):
    client = api(request.getfixturevalue(who))
    client.get(INCIDENTS + "?page_size=1")  # warm any per-process caches

    small, small_queries = _measure(client, "?page_size=5")
    large, large_queries = _measure(client, "?page_size=50")

    assert (small["count"], len(small["results"])) == (60, 5)
    assert (large["count"], len(large["results"])) == (60, 50)
    # The rows carry what was prefetched.
    row = large["results"][0]
    assert len(row["services"]) >= 1
    assert {r["role"] for r in row["roles"]} >= {"incident_commander", "tech_lead"}
    print(
        f"\nGET {INCIDENTS} as {who}: page_size=5 -> {len(small_queries)} queries, "
        f"page_size=50 -> {len(large_queries)} queries"
    )
    assert len(small_queries) == len(large_queries), (
        f"page_size=5: {len(small_queries)} queries, page_size=50: {len(large_queries)}:\n"
        + "\n".join(q["sql"] for q in large_queries.captured_queries)
    )
    assert len(large_queries) == EXPECTED_QUERIES, (
        f"measured {len(large_queries)} queries for a page of 50 (expected {EXPECTED_QUERIES}):\n"
        + "\n".join(q["sql"] for q in large_queries.captured_queries)
    )


def test_list_with_filters_stays_within_the_budget(
    api, sre_lead, sixty_incidents, django_assert_max_num_queries
):
    client = api(sre_lead)
    # `?service=` and `?team=` read the services' ids first (incidents/api/filters.py)
    with django_assert_max_num_queries(EXPECTED_QUERIES + 1):
        response = client.get(INCIDENTS + "?page_size=50&status=investigating&service=database")
    assert response.status_code == 200
    assert response.json()["count"] > 0


@pytest.mark.parametrize("who", ["responder", "security_user"])
@pytest.mark.parametrize(
    "query",
    [
        "?page_size=5&page=7",
        "?page_size=50&page=2",
        "?ordering=severity",
        "?page_size=20&open=true",
    ],
)
def test_deep_pages_orderings_and_viewers_cost_the_same(api, request, sixty_incidents, who, query):
    """Where the page lies, how it is ordered and who asks (the visibility rule's subquery
    for a responder) change no query count: bench/load.py counts the same on 100,000."""
    client = api(request.getfixturevalue(who))
    client.get(INCIDENTS + "?page_size=1")
    body, captured = _measure(client, query)
    assert body["results"], "the page must hold incidents"
    assert len(captured) == EXPECTED_QUERIES, (
        f"{query} as {who}: {len(captured)} queries (expected {EXPECTED_QUERIES}):\n"
        + "\n".join(q["sql"] for q in captured.captured_queries)
    )
