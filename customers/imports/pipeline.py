"""The threads of an import, so that reading the file (Python) and storing it (PostgreSQL) overlap instead of
adding up, and a two-core server keeps both cores busy.

``read_ahead`` reads and validates the next chunk on its own thread while the chunks before it are stored.
``Writers`` stores chunks on ``count`` threads, each with its own database connection (Django's connections are
per thread); with ``count=0`` the caller's thread stores them, on its connection and inside its transaction (the
embedded SQLite, and tests). At most ``2 * count + 2`` chunks are in memory.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from django.db import connection

T = TypeVar("T")
R = TypeVar("R")

# Each database call gives up the GIL, and taking it back from a thread busy parsing waits for the switch interval
# (5 ms by default): several times per chunk. A shorter interval while an import runs keeps the database fed.
SWITCH_INTERVAL = 0.0005  # seconds


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """``items``, each produced on another thread while the caller handles the one before. Leaving early waits for
    the item being produced, so no thread outlives the import."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-read") as pool:
        pending = pool.submit(next, items, None)
        try:
            while (item := pending.result()) is not None:
                pending = pool.submit(next, items, None)
                yield item
        finally:
            pending.cancel()
            sys.setswitchinterval(interval)


class Writers(Generic[T, R]):
    """``store(item)`` for each item put, on ``count`` threads; ``done()`` gives back (item, result) pairs as they
    complete (in any order), and re-raises the first failure. Use as a context manager: leaving it stops the
    threads and closes their connections."""

    def __init__(self, store: Callable[[T], R], count: int):
        self.store, self.count = store, count
        self.todo: queue.Queue[T | None] = queue.Queue(maxsize=max(count, 1))
        self.finished: queue.Queue[tuple[T, R | None, BaseException | None]] = queue.Queue()
        self.threads = [threading.Thread(target=self._work, name=f"import-write-{n}") for n in range(count)]
        self.busy = 0

    def __enter__(self) -> Writers[T, R]:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if exc_info[0] is not None:  # stop early: what is queued is dropped
            with contextlib.suppress(queue.Empty):
                while True:
                    self.todo.get_nowait()
        for _thread in self.threads:
            self.todo.put(None)
        for thread in self.threads:
            thread.join()

    def put(self, item: T) -> list[tuple[T, R]]:
        """Queue ``item`` (waiting while every writer is busy); returns what completed meanwhile."""
        if not self.count:
            return [(item, self.store(item))]
        self.todo.put(item)
        self.busy += 1
        return self._collect(block=False)

    def done(self) -> list[tuple[T, R]]:
        """Wait for everything queued; returns what completed since the last call."""
        return self._collect(block=True)

    def _collect(self, *, block: bool) -> list[tuple[T, R]]:
        results = []
        while self.busy and (block or not self.finished.empty()):
            item, result, error = self.finished.get()
            self.busy -= 1
            if error is not None:
                raise error
            results.append((item, result))
        return results

    def _work(self) -> None:
        try:
            while (item := self.todo.get()) is not None:
                try:
                    self.finished.put((item, self.store(item), None))
                except BaseException as exc:  # handed to the caller's thread, which raises it
                    self.finished.put((item, None, exc))
        finally:
            connection.close()  # this thread's own
