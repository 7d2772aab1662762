"""Seed the teams (procedures 9.4) and the services catalog (9.2); on PostgreSQL, make the
timeline append-only in the database itself, so no code path (ORM, raw SQL, admin) can edit or
delete an event."""

from django.db import migrations

TEAMS = [("platform", "Platform"), ("security", "Security"), ("support", "Support")]
SERVICES = [
    ("api-gateway", "API Gateway", "platform", "docs/runbooks/api-gateway.md"),
    ("training", "Training Service", "platform", "docs/runbooks/training.md"),
    ("inference", "Inference Service", "platform", "docs/runbooks/inference.md"),
    ("database", "Database", "platform", "docs/runbooks/database.md"),
    ("authentication", "Authentication", "security", "docs/runbooks/auth.md"),
    ("encryption", "Encryption Service", "security", "docs/runbooks/encryption.md"),
]

TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION incidents_timeline_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'timeline events are append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER incidents_timeline_append_only
    BEFORE UPDATE OR DELETE ON incidents_timelineevent
    FOR EACH ROW EXECUTE FUNCTION incidents_timeline_append_only();
"""
TRIGGER_REVERSE_SQL = """
DROP TRIGGER IF EXISTS incidents_timeline_append_only ON incidents_timelineevent;
DROP FUNCTION IF EXISTS incidents_timeline_append_only();
"""


def seed_catalog(apps, schema_editor):
    Team = apps.get_model("incidents", "Team")
    Service = apps.get_model("incidents", "Service")
    teams = {
        slug: Team.objects.get_or_create(slug=slug, defaults={"name": name})[0]
        for slug, name in TEAMS
    }
    for slug, name, team, runbook in SERVICES:
        Service.objects.get_or_create(
            slug=slug, defaults={"name": name, "team": teams[team], "runbook": runbook}
        )


def append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # params=None: the SQL holds a literal '%' (RAISE's placeholder), which psycopg would
        # otherwise read as a query parameter.
        schema_editor.execute(TRIGGER_SQL, params=None)


def append_only_reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER_REVERSE_SQL)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]

    operations = [
        migrations.RunPython(seed_catalog, migrations.RunPython.noop),
        migrations.RunPython(append_only, append_only_reverse),
    ]
