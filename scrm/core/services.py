from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from scrm.core.models import AuditLog, Heartbeat


def heartbeat_record(*, key: str, hostname: str) -> Heartbeat:
    with transaction.atomic():
        heartbeat, _ = Heartbeat.objects.update_or_create(
            key=key, defaults={"seen_at": timezone.now(), "hostname": hostname}
        )
    return heartbeat


SYSTEM_ACTOR = "system"


def acting_user(actor):
    """The user behind an action, or None when a job or a callback acted (no user, or an anonymous one)."""
    return actor if getattr(actor, "pk", None) else None


def audit_record(
    *, actor, action: str, target: models.Model, changes: dict[str, Any] | None = None, at: datetime | None = None
) -> AuditLog:
    """Append one audit entry. ``actor`` is the user who acted, or None for jobs and callbacks ("system").
    Call it inside the service's transaction, so a change and its record land together or not at all."""
    return AuditLog.objects.create(
        actor=acting_user(actor),
        actor_label=actor.get_username() if acting_user(actor) else SYSTEM_ACTOR,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:255],
        changes=_json_safe(changes or {}),
        at=at or timezone.now(),
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # Decimal, datetime, lazy translations
