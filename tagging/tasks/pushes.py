"""Tagging tasks: the WeCom ``mark_tag`` outbox drain (kicked after each commit that queues pushes, and by a beat
tick for retries that come due and kicks that were lost)."""

from celery import shared_task

from tagging.services.wecom_tag_pushes import wecom_tag_pushes_send


@shared_task(name="tagging.wecom_pushes_send", ignore_result=True)
def wecom_pushes_send() -> None:
    wecom_tag_pushes_send()
