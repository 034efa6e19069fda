"""Group statistics tasks: the roll-up of a day's member figures (beat: today every 30 minutes, yesterday at 00:20
once it is complete)."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from groups.services.stats import stats_rollup as rollup


@shared_task(name="groups.stats_rollup", ignore_result=True, soft_time_limit=600, time_limit=660)
def stats_rollup(days_ago: int = 0) -> int:
    """Roll up the calendar day ``days_ago`` days before today (in TIME_ZONE); the rows written."""
    return rollup(day=timezone.localdate() - timedelta(days=days_ago))
