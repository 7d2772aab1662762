"""A client generated from the published schema by openapi-python-client (the generator most
Python integrations use) works against the running platform unmodified: sign in, declare,
list, move along the lifecycle, and read a refused transition as its typed error. The
schema is generated from nothing but `/api/schema/`; the generator must report no warning
(an operation it cannot express is left out of the client silently otherwise).

Adversary: a made-up token gets the typed 401, and a viewer's declaration the typed 403."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

# The only setting: a PDF is a file to the generator (it knows application/octet-stream).
CONFIG = """\
package_name_override: tensafe_client
post_hooks: []
content_type_overrides:
  application/pdf: application/octet-stream
"""


@pytest.fixture(scope="module")
def generated(tmp_path_factory, django_db_blocker):
    """The package openapi-python-client generates from GET /api/schema/, importable (built
    once for the module)."""
    directory = tmp_path_factory.mktemp("generated")
    with django_db_blocker.unblock():
        schema = Client().get("/api/schema/?format=json")
    assert schema.status_code == 200
    (directory / "openapi.json").write_bytes(schema.content)
    (directory / "config.yml").write_text(CONFIG)
    generator = Path(sys.executable).parent / "openapi-python-client"
    run = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(directory / "openapi.json"),
            "--config",
            str(directory / "config.yml"),
            "--output-path",
            str(directory / "tensafe_client"),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module("tensafe_client")
    finally:
        sys.path.remove(str(directory))
        for name in [m for m in sys.modules if m.split(".")[0] == "tensafe_client"]:
            del sys.modules[name]


def _api(name):
    return importlib.import_module(f"tensafe_client.api.v1.{name}")


def test_sign_in_declare_list_and_transition(generated, live_server):
    models = importlib.import_module("tensafe_client.models")
    UserFactory(username="gen-ic", rank="engineering_manager", groups=["incident_commander"])
    anonymous = generated.Client(base_url=live_server.url)

    signed_in = _api("v1_auth_token_create").sync(
        client=anonymous,
        body=models.TokenObtainInputRequest(
            username="gen-ic", password=PASSWORD, name="generated client"
        ),
    )
    assert isinstance(signed_in, models.TokenSecretOutput), signed_in
    api = generated.AuthenticatedClient(
        base_url=live_server.url, token=signed_in.token, prefix="Token"
    )

    declared = _api("v1_incidents_create").sync(
        client=api,
        body=models.IncidentDeclareInputRequest(
            title="Checkout latency above 2 s",
            severity=models.SeverityEnum.P3,
            detection_source=models.DetectionSourceEnum.MONITORING,
            services=["api-gateway"],
        ),
    )
    assert isinstance(declared, models.IncidentDetailOutput), declared
    assert declared.status == models.IncidentStatusEnum.INVESTIGATING

    listed = _api("v1_incidents_list").sync(client=api, open_=True)
    assert isinstance(listed, models.PaginatedIncidentOutputList), listed
    assert [row.id for row in listed.results] == [declared.id]

    transition = _api("v1_incidents_transition_create")
    moved = transition.sync(
        declared.id,
        client=api,
        body=models.TransitionInputRequest(to=models.IncidentStatusEnum.IDENTIFIED),
    )
    assert isinstance(moved, models.IncidentDetailOutput), moved
    assert moved.status == models.IncidentStatusEnum.IDENTIFIED

    refused = transition.sync_detailed(
        declared.id,
        client=api,
        body=models.TransitionInputRequest(to=models.IncidentStatusEnum.RESOLVED),
    )
    assert refused.status_code in (400, 409)
    assert refused.parsed is not None and refused.parsed.detail


def test_credentials_are_checked_for_generated_clients_too(generated, live_server):
    models = importlib.import_module("tensafe_client.models")
    UserFactory(username="watcher", rank="engineer", groups=["viewer"])
    forged = generated.AuthenticatedClient(
        base_url=live_server.url, token="not-a-token", prefix="Token"
    )
    listing = _api("v1_incidents_list").sync_detailed(client=forged)
    assert listing.status_code == 401

    token = _api("v1_auth_token_create").sync(
        client=generated.Client(base_url=live_server.url),
        body=models.TokenObtainInputRequest(username="watcher", password=PASSWORD, name="x"),
    )
    viewer = generated.AuthenticatedClient(
        base_url=live_server.url, token=token.token, prefix="Token"
    )
    declared = _api("v1_incidents_create").sync_detailed(
        client=viewer,
        body=models.IncidentDeclareInputRequest(
            title="Not mine to declare",
            severity=models.SeverityEnum.P4,
            detection_source=models.DetectionSourceEnum.INTERNAL_REPORT,
        ),
    )
    assert declared.status_code == 403
    assert isinstance(declared.parsed, models.ErrorOutput)
