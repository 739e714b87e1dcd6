"""PostgreSQL search: the plan side's vectors also hold lexemes of their organisation and year
(`tracker.search.schema.vector_expression`), so that a manager's search and a date filter are narrowed
inside the GIN index; and per kind an index of the newest entries by date, for a date filter with many
matches. Nothing changes on SQLite (its FTS5 `scope` column already does this)."""

from django.db import migrations, models
from django.db.models import F, Q

KINDS = ("finding", "plan", "note", "comment", "evidence")
ENTRY = "tracker_searchentry"


def dated_indexes():
    return [
        models.Index(F("date").desc(), F("id").desc(), condition=Q(kind=kind), name=f"searchentry_{kind}_dated")
        for kind in KINDS
    ]


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    from tracker.search import schema

    schema.install(connection)  # the trigger writes new vectors from now on
    with connection.cursor() as cursor:
        # The GIN indexes are built again afterwards: faster than updating them row by row.
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname LIKE %s",
            [ENTRY, "searchentry\\_%\\_vector"],
        )
        gin = cursor.fetchall()
        for name, _ in gin:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(f"UPDATE {ENTRY} SET vector = {schema.vector_expression()} WHERE organisation_id IS NOT NULL")
        for _, definition in gin:
            cursor.execute(definition)
    model = apps.get_model("tracker", "SearchEntry")
    for index in dated_indexes():
        schema_editor.add_index(model, index)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("tracker", "SearchEntry")
    for index in dated_indexes():
        schema_editor.remove_index(model, index)
    # The extra lexemes are left in the vectors: they are never typed, and the earlier queries ignore them.


class Migration(migrations.Migration):
    atomic = True

    dependencies = [
        ("tracker", "0013_job"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
