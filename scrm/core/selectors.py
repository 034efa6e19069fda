from datetime import datetime

from django.utils import timezone

from scrm.core.models import Heartbeat


def heartbeat_ages(*, now: datetime | None = None) -> dict[str, dict]:
    """Each queue's last heartbeat and its age in seconds, for /readyz and the admin."""
    now = now or timezone.now()
    return {
        beat.key: {
            "seen_at": beat.seen_at.isoformat(),
            "age_seconds": round((now - beat.seen_at).total_seconds(), 1),
            "worker": beat.hostname,
        }
        for beat in Heartbeat.objects.all()
    }
