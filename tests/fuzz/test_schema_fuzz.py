"""Schema fuzzing: every operation of `/api/schema/` gets at least 100 generated requests
(schemathesis: examples, coverage and fuzzing phases; schema-valid and schema-violating
data), sent in-process to the WSGI app as an SRE lead who may do everything, and every
answer goes through all of schemathesis's checks: no server error, a documented status code,
Content-Type and headers, a body that matches the schema, schema-violating data refused and
schema-valid data accepted, 405 for undocumented methods, 401 without credentials.

Run it alone with `make test PYTEST_ARGS=tests/fuzz` (see docs/api.md). Deterministic:
Hypothesis is derandomized, so CI sends the same requests every time.
"""

import time
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.openapi.checks import RejectedPositiveData

from incidents.api.fields import NUL_REFUSED
from tensafe_ir.wsgi import application

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)

EXAMPLES = 100
SENT: Counter[str] = Counter()
ACCEPTED: Counter[str] = Counter()  # answered 2xx: the fuzzer got past validation and lookup
TOOK: dict[str, float] = {}
# The seeded data of the running module, for the hooks (which get no fixtures).
SEEDED: dict = {}

# Schema-valid input the API still refuses with a 400, for a reason the schema cannot state:
# what is valid depends on stored data, on another field, or on a validator stricter than
# JSON Schema's formats. For each operation, the fields whose 400 means that (and only those:
# a 400 naming any other field still fails the positive-data check). A 400 that names a rule
# of the procedures (`rule` in the body) is a refusal on purpose too.
STORED = "names a stored row (a service, user or team)"
URL = "Django's URLValidator: host labels of at most 63 characters and a TLD of letters"
BEYOND_SCHEMA: dict[str, dict[str, str]] = {
    # schemathesis exempts token endpoints it can find in the schema; this one is apiKey auth
    "POST /api/v1/auth/token/": {"non_field_errors": "which username/password pairs exist"},
    "POST /api/v1/incidents/": {"services": STORED},
    "PATCH /api/v1/incidents/{id}/": {"services": STORED},
    "POST /api/v1/incidents/{id}/roles/": {"username": STORED},
    "POST /api/v1/incidents/{id}/page/": {"username": STORED},
    "POST /api/v1/users/": {
        "team": STORED,
        "password": "Django's password validators (length, likeness to the username)",
        "username": "Django's Unicode username rule (a Python regex; JSON Schema's `\\w` is ASCII)",
    },
    "PATCH /api/v1/pirs/{id}/": {"author": STORED, "appendix_links": URL},
    "POST /api/v1/pirs/{id}/action-items/": {"owner": STORED},
    "PATCH /api/v1/pirs/{id}/action-items/{item_id}/": {"owner": STORED},
    "POST /api/v1/users/me/contact-methods/": {
        "target": "an address of the kind in `kind`",
        "secret": "what the kind in `kind` needs (a signing key, PagerDuty's integration key)",
    },
    "PATCH /api/v1/policy/": {
        "status_page_url": URL,
        "bridge_base_url": URL,
        # Objects keyed by severity / contact role, and rule edits: their fields are the GET's
        # (docs/api.md), which the schema gives them only as free objects.
        "severities": "the fields of GET /policy/'s severities",
        "escalation_contacts": "the stored escalation contacts, by role",
        "escalation_rules": "the fields of GET /policy/'s escalation_rules, by id",
    },
    "POST /api/v1/webhooks/": {"url": URL},
    "PATCH /api/v1/webhooks/{id}/": {"url": URL},
}


def _real_values(data, path: str, names: set[str]) -> list[dict]:
    """Real values for the path parameters `names` of `path`: the longest known prefix with
    the same parameters."""
    matches = [
        prefix
        for prefix, rows in data.path_parameters.items()
        if path.startswith(prefix) and rows and set(rows[0]) == names
    ]
    return data.path_parameters[max(matches, key=len)] if matches else []


def _well_formed(operation, values: dict) -> bool:
    """Whether generated path parameters are schema-valid; schema-violating ones (negative
    mode) are left alone, so replacing them never turns a negative case into a valid one."""
    for name, value in values.items():
        param = operation.path_parameters.get(name)
        kind = param.definition.get("schema", {}).get("type") if param is not None else None
        if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
            return False
        if kind == "string" and not isinstance(value, str):
            return False
    return True


@pytest.fixture
def fuzz_token(fuzz_data, request):
    SEEDED["data"] = fuzz_data
    started = time.perf_counter()
    yield fuzz_data.token
    TOOK[request.node.name.partition("[")[2].rstrip("]")] = time.perf_counter() - started


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half the well-formed path parameters name objects that exist (from the seeded data),
    the rest stay as generated (mostly missing objects: 404)."""
    operation = context.operation
    if not path_parameters:
        return st.just(path_parameters)
    values = _real_values(SEEDED["data"], operation.path, set(path_parameters))
    if not values or not _well_formed(operation, path_parameters):
        return st.just(path_parameters)
    return st.one_of(st.just(path_parameters), st.sampled_from(values))


def _leaves(value) -> list[str]:
    if isinstance(value, dict):
        return [m for item in value.values() for m in _leaves(item)]
    if isinstance(value, list):
        return [m for item in value for m in _leaves(item)]
    return [str(value)]


@schema.hook
def filter_failure(context, failure, case, response):
    """Keep every failure except a 400 for schema-valid data refused for a reason the schema
    cannot state: a rule of the procedures (`rule`), a field listed in BEYOND_SCHEMA, or NUL
    in a string (PostgreSQL text cannot hold U+0000, and OpenAPI 3.0 has no way to say so)."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 400:
        return True
    try:
        body = response.json()
    except ValueError:
        return True
    if not isinstance(body, dict):
        return True
    if isinstance(body.get("rule"), str):
        return False
    fields = {name: value for name, value in body.items() if name != "detail"}
    allowed = BEYOND_SCHEMA.get(case.operation.label, {})
    explained = [
        name.split(".")[0] in allowed
        or all(message.endswith(NUL_REFUSED) for message in _leaves(value))
        for name, value in fields.items()
    ]
    return not (explained and all(explained))


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    # Requests run in-process but some are slow (a PIR's PDF takes a quarter of a second):
    # no per-example deadline, and no too_slow health check.
    deadline=None,
    # The seeded data is a module fixture on purpose (seeding once per operation would cost
    # more than the fuzzing); each operation's examples share one rolled-back savepoint.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_operation(case, fuzz_token):
    SENT[case.operation.label] += 1
    response = case.call_and_validate(headers={"Authorization": f"Token {fuzz_token}"})
    if 200 <= response.status_code < 300:
        ACCEPTED[case.operation.label] += 1


def test_every_operation_got_enough_examples(capsys):
    """Runs after the operations (pytest keeps file order): each got at least EXAMPLES
    requests. The table is printed for docs/benchmarks.md (`-s` shows it)."""
    if not SENT:
        pytest.skip("no operation was fuzzed in this run (deselected)")
    with capsys.disabled():
        print(f"\n{'operation':60} {'requests':>8} {'2xx':>5} {'seconds':>7}")
        for label in sorted(SENT):
            print(f"{label:60} {SENT[label]:>8} {ACCEPTED[label]:>5} {TOOK.get(label, 0):>7.1f}")
        print(
            f"{len(SENT)} operations, {sum(SENT.values())} requests "
            f"({sum(ACCEPTED.values())} answered 2xx), {sum(TOOK.values()):.0f} s"
        )
    short = {label: n for label, n in SENT.items() if n < EXAMPLES}
    assert not short, f"fewer than {EXAMPLES} requests: {short}"
