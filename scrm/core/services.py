from django.db import transaction
from django.utils import timezone

from scrm.core.models import Heartbeat


def heartbeat_record(*, key: str, hostname: str) -> Heartbeat:
    with transaction.atomic():
        heartbeat, _ = Heartbeat.objects.update_or_create(
            key=key, defaults={"seen_at": timezone.now(), "hostname": hostname}
        )
    return heartbeat
