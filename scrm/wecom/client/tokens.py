"""Access tokens and JS-SDK tickets in the shared cache, refreshed single-flight.

Every web, worker and beat process shares one value per (corp, secret kind, agent id, secret fingerprint).
When it is missing, about to expire or was rejected by WeCom, exactly one process refreshes it — the one
that wins the cache lock — and the others either keep using the still-valid current value (a proactive
refresh) or poll the cache, within a bounded wait, for the new one. WeCom counts gettoken calls against the
same frequency limits as everything else, and N workers waking up together must not fetch N tokens.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from scrm.wecom.client.shared import atomic_add, get_cache, release
from scrm.wecom.errors import WeComTransientError

logger = logging.getLogger(__name__)

# A value this close to its expiry is not handed out at all: a request using it could arrive after it died.
_MIN_REMAINING = 10.0

Fetch = Callable[[], tuple[str, int]]


def secret_fingerprint(secret: str) -> str:
    """A short, one-way tag of the secret, so a rotated secret does not keep using the old secret's token."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


class TokenStore:
    def __init__(
        self,
        *,
        namespace: str,
        refresh_margin: float = 300.0,
        lock_timeout: float = 60.0,
        wait_timeout: float = 65.0,
        poll_interval: float = 0.05,
    ) -> None:
        self.namespace = namespace
        self.refresh_margin = refresh_margin
        self.lock_timeout = lock_timeout
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval

    def key(self, name: str) -> str:
        return f"{self.namespace}:{name}"

    def peek(self, name: str) -> str | None:
        """The cached value, fresh or not, without refreshing."""
        entry = get_cache().get(self.key(name))
        return entry.get("value") if isinstance(entry, dict) else None

    def get(self, name: str, fetch: Fetch, *, stale: str | None = None) -> str:
        """The current value of ``name``; ``fetch()`` → ``(value, expires_in)`` runs in one process at most.

        ``stale`` is a value WeCom just rejected: it counts as missing, but if another process has already
        replaced it, that newer value is returned without fetching again.
        """
        cache = get_cache()
        key = self.key(name)
        lock_key = f"{key}:lock"
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait_timeout
        while True:
            entry = cache.get(key)
            if self._fresh(entry, stale):
                return entry["value"]
            if atomic_add(lock_key, owner, timeout=self.lock_timeout):
                try:
                    entry = cache.get(key)  # it may have been refreshed between our read and the lock
                    if self._fresh(entry, stale):
                        return entry["value"]
                    logger.info("Refreshing WeCom %s", name, extra={"wecom_refresh": name})
                    value, expires_in = fetch()
                    self._store(key, value, expires_in)
                    return value
                finally:
                    release(lock_key, owner)
            if self._usable(entry, stale):
                return entry["value"]  # another process refreshes ahead of expiry; this one is still good
            if time.monotonic() >= deadline:
                raise WeComTransientError(None, f"timed out waiting for another process to refresh the {name}")
            time.sleep(self.poll_interval)

    def _store(self, key: str, value: str, expires_in: int) -> None:
        now = time.time()
        margin = min(self.refresh_margin, expires_in / 2)
        entry = {"value": value, "expires_at": now + expires_in, "refresh_at": now + expires_in - margin}
        get_cache().set(key, entry, timeout=max(1, int(expires_in)))

    def _usable(self, entry: Any, stale: str | None) -> bool:
        return (
            isinstance(entry, dict)
            and entry.get("value") != stale
            and entry.get("expires_at", 0) - time.time() > _MIN_REMAINING
        )

    def _fresh(self, entry: Any, stale: str | None) -> bool:
        return self._usable(entry, stale) and time.time() < entry.get("refresh_at", 0)
