"""Client-side rate limit per corp and API path, shared by every process through the cache.

A fixed one-minute window: the counter key holds the corp id, the API path and the minute number, and is
incremented atomically (Redis ``INCR``; ``flock``-serialised on the file cache). WeCom's own limit is per corp
per API (10,000/min), so the budget ``WECOM_RATE_LIMIT_PER_MINUTE`` keeps a margin under it.

When the budget is spent the call raises ``WeComRateLimited`` with ``retry_after`` (seconds to the next window)
instead of sleeping: a Celery task can ``retry(countdown=retry_after)`` without holding a worker for up to a
minute, and a worker held that long could starve the realtime queue (welcome codes expire in 20 s). Every HTTP
attempt counts, retries included, because WeCom counts them too. A limit of 0 disables the limiter.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from scrm.wecom.client.shared import atomic_incr
from scrm.wecom.errors import WeComRateLimited

WINDOW_SECONDS = 60


class RateLimiter:
    def __init__(self, *, corp_id: str, limit_per_minute: int, clock: Callable[[], float] = time.time) -> None:
        self.corp_id = corp_id
        self.limit = limit_per_minute
        self.clock = clock

    def key(self, path: str, *, now: float | None = None) -> str:
        window = int((self.clock() if now is None else now) // WINDOW_SECONDS)
        return f"wecom:rl:{self.corp_id}:{path}:{window}"

    def acquire(self, path: str) -> None:
        """Count one call to ``path``; raise ``WeComRateLimited`` if this minute's budget is spent."""
        if self.limit <= 0:
            return
        now = self.clock()
        # Twice the window: the counter must outlive its minute even if the clock and the cache disagree a bit.
        count = atomic_incr(self.key(path, now=now), timeout=2 * WINDOW_SECONDS)
        if count > self.limit:
            retry_after = WINDOW_SECONDS - (now % WINDOW_SECONDS)
            raise WeComRateLimited(
                None,
                f"client-side limit of {self.limit} calls per minute reached for this corp and API",
                path,
                retry_after=retry_after,
            )
