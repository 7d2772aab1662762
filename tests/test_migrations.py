"""Models and migrations agree: a model change without its migration fails here, not on a
production deploy."""

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit_:
        pytest.fail(f"models changed without a migration (exit {exit_.code}):\n{out.getvalue()}")


@pytest.mark.django_db(transaction=True)
def test_clear_text_authtoken_keys_move_in_hashed_and_keep_working():
    """Migration 0006: DRF authtoken keys become hashed ApiTokens (integrations keep working)
    and the table that held them in clear is dropped."""
    from datetime import timedelta

    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone
    from rest_framework.test import APIClient

    from incidents.models import ApiToken

    before, after = (
        ("incidents", "0005_incident_list_order_index"),
        ("incidents", "0006_accounts_tokens_audit"),
    )
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old_user = executor.loader.project_state([before]).apps.get_model("incidents", "User")
    legacy = old_user.objects.create(username="legacy", password=make_password("x" * 16))
    key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "created timestamp with time zone NOT NULL, user_id bigint NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [key, timezone.now(), legacy.pk],
        )
    executor = MigrationExecutor(connection)
    executor.migrate([after])

    assert "authtoken_token" not in connection.introspection.table_names()
    token = ApiToken.objects.get(user_id=legacy.pk)
    assert key not in (token.digest, token.prefix)
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/users/me/").json()["username"] == "legacy"


@pytest.mark.django_db(transaction=True)
def test_action_items_without_owner_or_due_date_survive_the_pir_migration():
    """pir 0004 adds the action item's version and renames the digests' `severity` to
    `priority`; it must not fail on rows written before owners and due dates were required
    (the columns stay nullable: the services enforce the rule, and such rows show as needing
    them)."""
    from datetime import date

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    from pir.models import ActionDigestDelivery, ActionItem
    from tests.factories import UserFactory, declare, drive_to

    ic = UserFactory(rank="engineering_manager", groups=["incident_commander"])
    incident = drive_to(declare(actor=ic), "resolved", ic)
    before, after = (
        ("pir", "0003_digest_outstanding_index"),
        ("pir", "0004_action_item_version_digest_priority"),
    )
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old = executor.loader.project_state([before]).apps
    item = old.get_model("pir", "ActionItem").objects.create(
        pir_id=incident.pir.pk,
        incident_id=incident.pk,
        action="Written before the rule",
        priority="P1",
        created_at=timezone.now(),
    )
    old.get_model("pir", "ActionDigestDelivery").objects.create(
        manager_id=ic.pk,
        severity="P2",
        period_start=date(2026, 1, 5),
        period_end=date(2026, 1, 18),
        idempotency_key="pir-digest:P2:2026-01-05:u1",
        to_address="em@t.test",
        subject="s",
        body="b",
        created_at=timezone.now(),
    )
    executor = MigrationExecutor(connection)
    executor.migrate([after])

    migrated = ActionItem.objects.get(pk=item.pk)
    assert (migrated.owner_id, migrated.due_date, migrated.version) == (None, None, 1)
    assert migrated.missing_fields == ["owner", "due_date"]
    assert ActionDigestDelivery.objects.get().priority == "P2"
