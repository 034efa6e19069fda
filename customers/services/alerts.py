"""Customer alerts: what the owner and ops must act on — a customer who deleted their employee (流失), a transfer
that failed. Raised inside the transaction of the change that causes them (one per ``source_key``, so a
re-delivered callback or a repeated result check raises nothing new), notified after it commits: a WeCom app
message to the customer's owner and to the ops staff who have an employee account. Ops see the open alerts in the
admin whether or not the message went out."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from customers.models import CustomerAlert, CustomerTransfer, Employee, FollowRelation, TimelineEntry
from customers.models.timeline import SOURCE_KEY_LENGTH
from scrm.core.roles import OPS
from scrm.core.services import audit_record
from scrm.core.upsert import insert_rows
from scrm.wecom.client import get_client
from scrm.wecom.errors import WeComConfigError, WeComError, WeComOutcomeUnknown, WeComRateLimited, WeComTransientError

logger = logging.getLogger(__name__)

Kind = CustomerAlert.Kind


@dataclass(frozen=True)
class Loss:
    """A ``del_follow_user`` event: the customer ``external_userid`` deleted the employee ``userid`` at ``at``."""

    userid: str
    external_userid: str
    at: datetime


def loss_source_key(loss: Loss) -> str:
    # The event time is part of the key: deleted, re-added and deleted again is a second loss.
    return f"lost:{loss.external_userid}:{loss.userid}:{int(loss.at.timestamp())}"


def _timeline_key(key: str) -> str:
    """Timeline keys are shorter than alert keys; long WeCom ids are hashed to fit."""
    if len(key) <= SOURCE_KEY_LENGTH:
        return key
    return f"lost:{hashlib.sha256(key.encode()).hexdigest()}"


def customer_losses_record(*, losses: list[Loss]) -> int:
    """For each loss: a ``lost`` alert on the contact's customer and a timeline entry, unless they exist (a
    re-delivered callback: the unique source keys make the inserts skip them); the owner and ops are notified
    after commit. Call it inside the transaction that marked the relations ended (the contacts, employees and
    relations exist by then). Three queries however many losses; returns how many it tried to record."""
    keyed = {loss_source_key(loss): loss for loss in losses}
    if not keyed:
        return 0
    # Plain values, not model instances, and the rows inserted without bulk_create's per-value preparation: a
    # burst of deletions comes as callbacks, hundreds a second, and this was half the cost of processing one.
    relations = {
        (userid, external_userid): (employee_id, Employee.label(userid=userid, name=employee_name), name, customer_id)
        for userid, external_userid, employee_id, employee_name, name, customer_id in FollowRelation.objects.filter(
            employee__userid__in={loss.userid for loss in keyed.values()},
            contact__external_userid__in={loss.external_userid for loss in keyed.values()},
        ).values_list(
            "employee__userid",
            "contact__external_userid",
            "employee_id",
            "employee__name",
            "contact__name",
            "contact__customer_id",
        )
    }
    alerts, entries = [], []
    for key, loss in keyed.items():
        employee_id, employee, name, customer_id = relations.get((loss.userid, loss.external_userid), (0, "", "", None))
        if customer_id is None:
            logger.warning("Loss of %s by %s has no customer to alert on", loss.external_userid, loss.userid)
            continue
        message = gettext("%(customer)s deleted %(employee)s on WeCom.") % {
            "customer": name or loss.external_userid,
            "employee": employee,
        }
        alerts.append(
            {
                "customer_id": customer_id,
                "kind": Kind.LOST,
                "employee_id": employee_id,
                "message": message[:255],
                "source_key": key,
            }
        )
        entries.append(
            {
                "customer_id": customer_id,
                "kind": TimelineEntry.Kind.RELATION,
                "channel": TimelineEntry.Channel.WECOM,
                "occurred_at": loss.at,
                "employee_id": employee_id,
                "summary": message[:255],
                "data": {"event": "del_follow_user", "userid": loss.userid, "external_userid": loss.external_userid},
                "source_key": _timeline_key(key),
            }
        )
    insert_rows(CustomerAlert, alerts, ignore_conflicts=True)
    insert_rows(TimelineEntry, entries, ignore_conflicts=True)
    # Only alerts not notified yet are sent: a re-delivery finds its alert already notified.
    _notify_after_commit([alert["source_key"] for alert in alerts])
    return len(alerts)


def transfer_failure_alerts_raise(*, transfers: Iterable[CustomerTransfer]) -> list[CustomerAlert]:
    """A ``transfer_failed`` alert per failed transfer (contact, handover and takeover loaded), once each."""
    keyed = {f"transfer_failed:{transfer.pk}": transfer for transfer in transfers}
    known = set(CustomerAlert.objects.filter(source_key__in=list(keyed)).values_list("source_key", flat=True))
    alerts = []
    for key, transfer in keyed.items():
        if key in known or transfer.contact.customer_id is None:
            continue
        message = gettext("Transfer of %(customer)s from %(from)s to %(to)s failed: %(reason)s") % {
            "customer": transfer.contact.name or transfer.contact.external_userid,
            "from": transfer.handover,
            "to": transfer.takeover,
            "reason": transfer.reason,
        }
        alerts.append(
            CustomerAlert(
                customer_id=transfer.contact.customer_id,
                kind=Kind.TRANSFER_FAILED,
                employee_id=transfer.handover_id,  # the customer stays with them
                message=message[:255],
                source_key=key,
            )
        )
    CustomerAlert.objects.bulk_create(alerts)
    _notify_after_commit([alert.source_key for alert in alerts])
    return alerts


def _notify_after_commit(source_keys: list[str]) -> None:
    if source_keys:
        transaction.on_commit(lambda: _enqueue_notify(source_keys))


def _enqueue_notify(source_keys: list[str]) -> None:
    from customers.tasks import notify_alerts

    notify_alerts.delay(source_keys)


def alert_recipients() -> list[str]:
    """The WeCom userids of active ops staff: Django users in the ops group linked to an employee."""
    return sorted(
        Employee.objects.filter(user__groups__name=OPS, user__is_active=True)
        .exclude(status=Employee.Status.RESIGNED)
        .values_list("userid", flat=True)
        .distinct()
    )


def alerts_notify(*, source_keys: Iterable[str], client=None) -> int:
    """Send each of these alerts not yet notified to its customer's owner and ops as a WeCom app message, and mark
    ``notified_at``. Without a configured agent (app) nothing is sent and ``notified_at`` stays empty. Each alert
    is claimed before its message goes out, so two runs never send it twice; a message WeCom may have received
    (no answer) is not sent again. Returns how many were sent. WeCom busy or limited: those alerts are left
    unclaimed and the error is raised at the end, for the task to retry."""
    alerts = list(
        CustomerAlert.objects.filter(source_key__in=list(source_keys), notified_at__isnull=True).select_related(
            "customer__owner", "employee"
        )
    )
    if not alerts:
        return 0
    try:
        client = client or get_client("agent")
    except WeComConfigError as exc:
        logger.info("Customer alerts not sent to WeCom: %s", exc)
        return 0
    ops = alert_recipients()
    agent_id = int(client.agent_id) if client.agent_id.isdigit() else client.agent_id
    sent, retry = 0, None
    for alert in alerts:
        owner = alert.customer.owner
        recipients = sorted({*ops, *([owner.userid] if owner and owner.status != Employee.Status.RESIGNED else [])})
        if not recipients:
            continue
        if not CustomerAlert.objects.filter(pk=alert.pk, notified_at__isnull=True).update(notified_at=timezone.now()):
            continue  # another run took it
        try:
            client.message.send_text(agent_id, recipients, _message_text(alert))
        except WeComOutcomeUnknown as exc:
            logger.warning("Alert %s may or may not have reached WeCom; not sent again: %s", alert.pk, exc)
        except WeComError as exc:
            CustomerAlert.objects.filter(pk=alert.pk).update(notified_at=None)
            logger.warning("Alert %s not sent: %s", alert.pk, exc)
            if isinstance(exc, WeComTransientError | WeComRateLimited):
                retry = exc
        else:
            sent += 1
    if retry is not None:
        raise retry
    return sent


def _message_text(alert: CustomerAlert) -> str:
    owner = alert.customer.owner
    return gettext("[Customer alert] %(message)s Customer #%(id)s, owner %(owner)s. Please follow up.") % {
        "message": alert.message,
        "id": alert.customer_id,
        "owner": owner or "—",
    }


def alerts_resolve(*, alert_ids: Iterable[int], actor) -> int:
    """Ops dealt with these alerts: mark the open ones resolved (audited); returns how many."""
    now = timezone.now()
    with transaction.atomic():
        alerts = list(
            CustomerAlert.objects.select_for_update().filter(pk__in=list(alert_ids), resolved_at__isnull=True)
        )
        CustomerAlert.objects.filter(pk__in=[alert.pk for alert in alerts]).update(resolved_at=now, updated_at=now)
        for alert in alerts:
            audit_record(actor=actor, action="resolve", target=alert, changes={"resolved_at": [None, now]}, at=now)
    return len(alerts)
