from django.db import migrations


def refresh_statistics(apps, schema_editor):
    """Adding `stage_number` wrote the plans' table anew (SQLite builds a new table; PostgreSQL rewrites
    it), which leaves SQLite's planner without statistics for it and PostgreSQL without the visibility
    map that index-only scans need: the dashboard's counts would read every table page, and SQLite chose
    plans 20-40 times slower for the dashboards (docs/BENCHMARKS.md). VACUUM cannot run inside a
    transaction, hence this migration of its own, outside one. SQLite also needs statistics for the
    updates' index made anew."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            in_transaction = connection.in_atomic_block
            cursor.execute("ANALYZE tracker_actionplan" if in_transaction else "VACUUM ANALYZE tracker_actionplan")
        else:
            cursor.execute("ANALYZE tracker_actionplan")
            cursor.execute("ANALYZE tracker_update")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tracker", "0025_plan_stage_number"),
    ]

    operations = [
        migrations.RunPython(refresh_statistics, migrations.RunPython.noop),
    ]
