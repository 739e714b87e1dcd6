from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _ensure_search_index(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """A migration that rebuilds a source table on SQLite drops its search triggers: put them back."""
    from .search import schema

    schema.ensure(connections[using])


class TrackerConfig(AppConfig):
    name = "tracker"
    verbose_name = "Tracker"

    def ready(self) -> None:
        # signals: security event logging; tasks: background jobs (a failed task fails its job).
        from . import freshness, people, signals, tasks, upload_temp  # noqa: F401
        from .models import membership_saved

        # What follows a change of someone's organisation or active state (tracker.people).
        membership_saved.connect(people.release_plans, dispatch_uid="tracker-release-plans")

        freshness.connect()
        upload_temp.reap()
        post_migrate.connect(_ensure_search_index, sender=self, dispatch_uid="tracker-search-index")
