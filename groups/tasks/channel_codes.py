"""Channel live codes' tasks: pushes to WeCom (after commit, and the minute sweep), the welcome message (realtime
queue: its code lapses 20 s after the add), the midnight rota, and deleting a deleted code's contact_way."""

import logging
import random

from celery import shared_task

from groups.services.channel_codes import channel_codes_rota_refresh
from groups.services.channel_codes_adds import channel_code_welcome_send
from groups.services.channel_codes_push import channel_code_push as push
from groups.services.channel_codes_push import channel_codes_push_due
from groups.services.channel_codes_push import contact_way_delete as delete_in_wecom
from scrm.wecom.errors import RETRY_LATER, WeComError

logger = logging.getLogger(__name__)

MAX_DELETE_RETRIES = 10  # about four hours of WeCom being busy or unreachable
MAX_WELCOME_RETRIES = 15  # bounded by the 20 seconds anyway


@shared_task(name="groups.channel_code_push", ignore_result=True)
def channel_code_push(code_id: int) -> None:
    """Send one pending channel code to WeCom. A failure is recorded on the code; the sweep retries it."""
    push(code_id=code_id)


@shared_task(name="groups.codes_push_due", ignore_result=True)
def codes_push_due() -> None:
    """Beat tick (every minute): live codes WeCom has not taken yet, channel codes here and group codes next."""
    for code_id in channel_codes_push_due():
        channel_code_push.delay(code_id)
    from groups.services.group_codes import group_codes_push_due

    group_codes_push_due()


@shared_task(name="groups.channel_codes_rota", ignore_result=True)
def channel_codes_rota() -> None:
    """Beat tick at local midnight: a new day, so members who sat out at their daily limit rejoin the rota."""
    changed = channel_codes_rota_refresh()
    logger.info("Channel code rota: %s codes changed their employees for the new day", len(changed))


@shared_task(name="groups.welcome_send", bind=True, ignore_result=True)
def welcome_send(self, add_id: int) -> None:
    """Send the welcome message of an add through a channel code, within its 20 seconds."""
    _outcome, retry_in = channel_code_welcome_send(add_id=add_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in, max_retries=MAX_WELCOME_RETRIES)


@shared_task(name="groups.contact_way_delete", bind=True, ignore_result=True)
def contact_way_delete(self, config_id: str) -> None:
    """Delete the contact_way of a code deleted here. WeCom busy: tried again with backoff; refused: logged."""
    try:
        delete_in_wecom(config_id=config_id)
    except RETRY_LATER as exc:
        countdown = min(3600, 30 * 2**self.request.retries) + random.uniform(0, 5)  # noqa: S311 - jitter only
        raise self.retry(countdown=countdown, max_retries=MAX_DELETE_RETRIES, exc=exc) from exc
    except WeComError as exc:
        logger.error("WeCom contact way %s of a deleted channel code could not be deleted: %s", config_id, exc)
