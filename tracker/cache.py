"""The shared cache (Redis), failing soft: while Redis cannot be reached, pages carry on from the database.

Nothing the app keeps in the cache is the only copy: cached figures are recomputed (tracker/freshness.py)
and the provider's metadata is fetched again (tracker/sso.py). So when Redis is down, or does not answer
within its socket time-out, a read counts as a miss and a write is dropped, and a warning goes to the
`tracker.cache` log at most once a minute. After a failure the cache is left alone for a few seconds
rather than asked (and waited for) on every call; then it is tried again, so it comes back by itself.

`/healthz` reports the outage (`check`), as a degraded but ready service.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger("tracker.cache")

WARN_EVERY_SECONDS = 60.0
RETRY_AFTER_SECONDS = 5.0

T = TypeVar("T")


class _Outage:
    """Per process: when Redis last failed, until when to leave it alone, when we last said so."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.retry_at = 0.0
        self.warned_at: float | None = None
        self.failures = 0

    def down(self) -> bool:
        return time.monotonic() < self.retry_at

    def failed(self, error: Exception) -> None:
        now = time.monotonic()
        with self.lock:
            self.retry_at = now + RETRY_AFTER_SECONDS
            self.failures += 1
            if self.warned_at is not None and now - self.warned_at < WARN_EVERY_SECONDS:
                return
            self.warned_at = now
            failures, self.failures = self.failures, 0
        log.warning(
            "cache unreachable, pages are served from the database (%s; %d failed call%s since the last warning)",
            error, failures, "" if failures == 1 else "s",
        )  # fmt: skip


outage = _Outage()


class FailSoftRedisCache(RedisCache):
    """Django's Redis cache, whose reads miss and writes are dropped while Redis is unreachable."""

    def _soft(self, default: T, call: Callable[[], T]) -> T:
        if outage.down():
            return default
        try:
            return call()
        except RedisError as error:  # connection refused, time-out, server loading or read-only...
            outage.failed(error)
            return default

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._soft(default, lambda: super(FailSoftRedisCache, self).get(key, default, version))

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return self._soft({}, lambda: super(FailSoftRedisCache, self).get_many(keys, version))

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._soft(False, lambda: super(FailSoftRedisCache, self).has_key(key, version))

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        self._soft(None, lambda: super(FailSoftRedisCache, self).set(key, value, timeout, version))

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._soft(False, lambda: super(FailSoftRedisCache, self).add(key, value, timeout, version))

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list:
        return self._soft(list(data), lambda: super(FailSoftRedisCache, self).set_many(data, timeout, version))

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self._soft(0, lambda: super(FailSoftRedisCache, self).incr(key, delta, version))

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._soft(False, lambda: super(FailSoftRedisCache, self).touch(key, timeout, version))

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._soft(False, lambda: super(FailSoftRedisCache, self).delete(key, version))

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._soft(None, lambda: super(FailSoftRedisCache, self).delete_many(keys, version))

    def clear(self) -> None:
        self._soft(None, lambda: super(FailSoftRedisCache, self).clear())

    def check(self) -> None:
        """Ask Redis directly (no soft failure): raises if it cannot be reached. For the health check."""
        self._cache.get_client(write=True).ping()
