"""Gunicorn reads this file from the working directory (the checkout, or /app in the image) before its flags.

Only what the command line cannot say: after a worker has loaded Django, everything allocated so far (modules,
settings, URL patterns, models) is moved out of the garbage collector's reach. It never becomes garbage, yet
every full collection walked it: tens of milliseconds that landed on whichever callback was being answered (the
p99 of bench/callback_benchmark.py fell from 50 ms to under 40).
"""

import gc


def post_worker_init(worker):
    gc.freeze()
