"""Garbage collection for long bulk jobs."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager

BULK_THRESHOLDS = (10_000, 20, 20)


@contextmanager
def collecting_less() -> Iterator[None]:
    """For a job that allocates millions of short-lived objects (the full WeCom sync): what is loaded already
    (Django, the app) is frozen out of collections, and the youngest generation is collected every 10,000 net
    allocations instead of 700. Every page of contacts had set off dozens of collections that walked everything
    loaded; the full sync ran 5–10% faster (bench/README.md "Full sync"). The thresholds come back on exit; what
    was frozen stays frozen, as it lives as long as the process (the collection first keeps garbage out of it)."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*BULK_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
