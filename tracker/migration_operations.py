"""Operations for migrations of tables that the search index follows with triggers (tracker/search/schema.py).

SQLite cannot add a NOT NULL column, or one with a default, with ALTER TABLE in Django's eyes, so Django
copies the table to `new__<table>`, drops the old one and renames the copy. The triggers of other tables
that read the table break that copy on a database holding rows, and the table's own triggers are lost.
A column whose default is a constant can be added in place on SQLite too, and a field's index added or
dropped without a copy; these operations do that, and leave every other database to Django.
`tests/tracker/test_measures_migration.py` checks that no migration since the search index rebuilds a
followed table.
"""

from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models.expressions import Value
from django.db.models.fields import NOT_PROVIDED


class AddFieldInPlace(migrations.AddField):
    """AddField that adds the column with ALTER TABLE ... ADD COLUMN on SQLite as well. For fields with a
    constant `db_default` (or nullable ones): SQLite fills existing rows with it, as other databases do."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor != "sqlite":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return None
        field = model._meta.get_field(self.name)
        default = field.db_default
        constant = default is not NOT_PROVIDED and (
            isinstance(default, Value) or not hasattr(default, "resolve_expression")
        )
        if not (field.null or constant):
            raise ValueError(f"{self.model_name}.{self.name}: only a nullable column or a constant db_default")
        # The base editor's add_field is plain ALTER TABLE ... ADD COLUMN with the column's definition.
        BaseDatabaseSchemaEditor.add_field(schema_editor, model, field)
        return None


class AlterFieldIndex(migrations.AlterField):
    """AlterField that only gives a field an index of its own or takes it away (`db_index`), and on SQLite
    does just that: Django would copy the table to change its `db_index` (above), a million rows for the
    plans' updates at national scale. Other databases are left to Django, which also creates or drops only
    the index."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        self._index(app_label, schema_editor, from_state, to_state, super().database_forwards)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        self._index(app_label, schema_editor, from_state, to_state, super().database_backwards)

    def _index(self, app_label, schema_editor, from_state, to_state, django):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor != "sqlite":
            return django(app_label, schema_editor, from_state, to_state)
        old = from_state.apps.get_model(app_label, self.model_name)
        new = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, new):
            return None
        before, after = old._meta.get_field(self.name), new._meta.get_field(self.name)
        same_column = (before.column, before.null, before.unique) == (after.column, after.null, after.unique)
        if not same_column or before.db_parameters(schema_editor.connection) != after.db_parameters(
            schema_editor.connection
        ):
            raise ValueError(f"{self.model_name}.{self.name}: only its index may change")
        if before.db_index and not after.db_index:
            with schema_editor.connection.cursor() as cursor:
                constraints = schema_editor.connection.introspection.get_constraints(cursor, new._meta.db_table)
            meta = {index.name for index in new._meta.indexes}
            for name, details in constraints.items():
                if details["index"] and not details["unique"] and details["columns"] == [after.column]:
                    if name not in meta:
                        schema_editor.execute(schema_editor._delete_index_sql(new, name))
        elif after.db_index and not before.db_index:
            schema_editor.execute(schema_editor._create_index_sql(new, fields=[after]))
        return None
