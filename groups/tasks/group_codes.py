"""Group live codes (群活码) → WeCom: a push after each change, the adoption of groups WeCom created, the
clean-up after a delete, and the periodic check (``groups.group_codes_check``, every 300 s) that moves codes on
from the member counts whatever events were missed. The sweep of pending pushes is ``groups.codes_push_due``
(``group_codes_push_due``)."""

from celery import shared_task

from groups.selectors.group_codes import group_codes_awaiting_new_group
from groups.services import group_codes_rotation as rotation
from groups.services import group_codes_wecom as wecom


@shared_task(name="groups.group_code_push", ignore_result=True)
def group_code_push(code_id: int) -> None:
    """Send one code's pending state to WeCom. Failures are recorded on the code and retried by the sweep, never
    by re-running this task."""
    wecom.group_code_push(code_id=code_id)


@shared_task(name="groups.group_code_adopt", ignore_result=True)
def group_code_adopt(code_id: int) -> None:
    """Read the code's join_way and adopt the groups WeCom created for it."""
    wecom.group_code_adopt(code_id=code_id)


@shared_task(name="groups.group_code_wecom_delete", ignore_result=True)
def group_code_wecom_delete(config_id: str, template_id: str) -> None:
    wecom.group_code_wecom_delete(config_id=config_id, template_id=template_id)


@shared_task(name="groups.group_codes_check", ignore_result=True)
def group_codes_check() -> None:
    """Every 300 s: the threshold check for every open code from the current member counts, and the adoption of
    groups WeCom created for codes whose groups are all full. Each code this changes is pushed by its own task,
    queued as the change commits."""
    rotation.group_codes_check()
    for code_id in group_codes_awaiting_new_group():
        wecom.group_code_adopt(code_id=code_id)
