from django.apps import AppConfig


class TrackerConfig(AppConfig):
    name = "tracker"
    verbose_name = "Tracker"

    def ready(self) -> None:
        from . import freshness, signals  # noqa: F401  (security event logging)

        freshness.connect()
