"""How often one client may ask for the anonymous pages (the public progress pages and their feeds).

A fixed window per client address (`tracker.signals.client_address`, which knows about trusted proxies):
a counter in the shared cache, so every app server counts the same requests, that expires with its
minute. While the cache cannot be reached (tracker/cache.py) nothing is counted and nobody is refused:
the pages are cached figures anyway, and a Redis outage must not turn the public away.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from .signals import client_address

WINDOW_SECONDS = 60


def over_limit(request: HttpRequest, group: str, limit: int) -> int:
    """Count this request; return how many seconds until the client may ask again (0: not over the limit)."""
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    key = f"ratelimit:{group}:{client_address(request) or '-'}:{window}"
    if cache.add(key, 1, WINDOW_SECONDS + 5):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between the two calls
            cache.set(key, 1, WINDOW_SECONDS + 5)
            count = 1
    if count <= limit:
        return 0
    return max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)


def rate_limited(group: str, refuse: Callable[[HttpRequest, int], HttpResponse]) -> Callable[..., Any]:
    """A view decorator: past settings.PUBLIC_REQUESTS_PER_MINUTE a minute, `refuse(request, retry_after)`
    answers instead of the view (with status 429 and a Retry-After header)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            retry_after = over_limit(request, group, settings.PUBLIC_REQUESTS_PER_MINUTE)
            if retry_after:
                response = refuse(request, retry_after)
                response.status_code = 429
                response["Retry-After"] = str(retry_after)
                return response
            return view(request, *args, **kwargs)

        return limited

    return decorate
