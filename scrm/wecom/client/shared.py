"""Cross-process primitives on the Django cache: an atomic ``add`` (a lock) and an atomic counter.

Redis (``REDIS_URL``) gives both for free: ``cache.add`` is ``SET NX`` and ``cache.incr`` is ``INCR``. Django's
file cache (the embedded default) does not: its ``add`` is ``has_key`` then ``set`` and its ``incr`` is ``get``
then ``set``, so two processes can both "win" a lock or lose an increment. For that backend we serialise the
read-modify-write with ``flock`` on a file next to the cache, which every process on the host shares.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.filebased import FileBasedCache


def get_cache() -> BaseCache:
    return caches["default"]


@contextlib.contextmanager
def _serialised(cache: BaseCache) -> Iterator[None]:
    if not isinstance(cache, FileBasedCache):
        yield  # Redis and LocMem are atomic already
        return
    directory = Path(cache._dir)
    directory.mkdir(parents=True, exist_ok=True)
    # Not a *.djcache file, so cache.clear() and culling leave it alone.
    fd = os.open(directory / "wecom-client.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def atomic_add(key: str, value: Any, *, timeout: float) -> bool:
    """``cache.add`` that is atomic across processes on every backend we deploy. True if we stored it."""
    cache = get_cache()
    with _serialised(cache):
        return cache.add(key, value, timeout=timeout)


def atomic_incr(key: str, *, timeout: float) -> int:
    """Increment a counter that expires ``timeout`` seconds after it was created; the new value."""
    cache = get_cache()
    with _serialised(cache):
        cache.add(key, 0, timeout=timeout)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr: start a new count
            cache.set(key, 1, timeout=timeout)
            return 1


def release(key: str, owner: str) -> None:
    """Delete a lock only if we still hold it (it may have expired and been taken by another process)."""
    cache = get_cache()
    with _serialised(cache):
        if cache.get(key) == owner:
            cache.delete(key)
