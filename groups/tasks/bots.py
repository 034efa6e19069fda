"""No Celery tasks for bots.

Assigning, releasing and moving groups are short transactions that staff start (admin, API) and that finish
before the response; a dismissed group gives its slot back inside the callback's own transaction
(``group_dismiss``). ``group_count`` cannot drift from the ``BotGroup`` rows, since only those transactions change
either, so there is nothing to reconcile on a schedule. The rebalance is a proposal ops look at before applying,
never a job that moves groups on its own.
"""
