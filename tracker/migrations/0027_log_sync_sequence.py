from django.db import migrations


def create_sequence(apps, schema_editor):
    """The sequence a long import moves to sync the write-ahead log as it goes (tracker/logsync.py)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE SEQUENCE IF NOT EXISTS tracker_log_sync")


def drop_sequence(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP SEQUENCE IF EXISTS tracker_log_sync")


class Migration(migrations.Migration):
    dependencies = [
        ("tracker", "0026_plan_stage_number_statistics"),
    ]

    operations = [
        migrations.RunPython(create_sequence, drop_sequence),
    ]
