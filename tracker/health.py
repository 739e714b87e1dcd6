"""What `/healthz` reports: each dependency's state, and whether this server is ready for traffic.

Ready means the database answers: without it no page works (503). The cache (Redis), the file storage
and the malware scanner are reported too, each `ok` or `unreachable` (the scanner `off` when none is
configured): without the cache pages are served from the database (tracker/cache.py), slower; without
storage or scanner, uploads and downloads stop on every server alike. Any of those makes the service
"degraded" but still ready: taking servers out of rotation would not help. Each failure is logged to
`tracker.health` with its reason; the answer itself says only ok or unreachable, as the check is open
to anyone. Storage and scanner are each asked with a time limit, well inside a load balancer's.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from . import malware
from .storage import storage_answers

log = logging.getLogger("tracker.health")

OK, UNREACHABLE, OFF = "ok", "unreachable", "off"
TIMEOUT = 3  # seconds for each of storage and scanner
CACHE_PROBE = "healthz-probe"


def _state(name: str, check: Any) -> str:
    try:
        check()
    except Exception as error:  # any failure of a dependency is reported, never raised
        log.warning("health check: %s unreachable (%s: %s)", name, type(error).__name__, error)
        return UNREACHABLE
    return OK


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    check = getattr(cache, "check", None)  # tracker.cache.FailSoftRedisCache asks Redis directly
    if check is not None:
        check()
        return
    cache.set(CACHE_PROBE, OK, 5)
    if cache.get(CACHE_PROBE) != OK:
        raise RuntimeError("a value just stored could not be read back")


def _storage() -> None:
    if not storage_answers(TIMEOUT):
        raise ConnectionError("the file storage did not answer")


def _scanner() -> None:
    if not malware.ping(settings.CLAMAV_ADDRESS, TIMEOUT):
        raise ConnectionError(f"clamd at {settings.CLAMAV_ADDRESS} did not answer")


def report() -> tuple[bool, dict[str, Any]]:
    """(ready, the JSON body): ready when the database answers."""
    states = {
        "database": _state("database", _database),
        "cache": _state("cache", _cache),
        "storage": _state("storage", _storage),
        "malware_scanner": _state("malware scanner", _scanner) if settings.CLAMAV_ADDRESS else OFF,
    }
    ready = states["database"] == OK
    if not ready:
        status = "error"
    elif UNREACHABLE in states.values():
        status = "degraded"
    else:
        status = "ok"
    return ready, {"status": status, "ready": ready, **states}
