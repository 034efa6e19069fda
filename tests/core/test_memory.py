"""collecting_less: a bulk job's garbage collection settings, and what it leaves behind."""

import gc

from scrm.core.memory import BULK_THRESHOLDS, collecting_less


def test_a_bulk_job_collects_less_and_the_thresholds_come_back():
    before = gc.get_threshold()
    garbage = []
    garbage.append(garbage)  # a reference cycle: only the collector frees it
    del garbage

    with collecting_less():
        inside, frozen = gc.get_threshold(), gc.get_freeze_count()

    assert inside == BULK_THRESHOLDS != before
    assert frozen > 0  # what was loaded is out of the collections' way
    assert gc.get_threshold() == before
