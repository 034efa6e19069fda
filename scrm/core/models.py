from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    """Base for domain models: when a row was created and last changed.

    Not indexed here: a model that sorts or filters by ``created_at`` declares that index in its own Meta, so the
    tables that never do (follow relations, memberships) do not pay for one on every insert.
    """

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class KeepsServiceFields(models.Model):
    """A model some of whose columns only their own service writes, in SQL (``SERVICE_FIELDS``; the tag arrays).

    A full ``save()`` of an existing row would write back the value it read earlier and undo a change made since
    (a merge saving the kept customer after the merged one's tags moved to it; an admin form open for a minute):
    here it leaves those columns out.
    """

    SERVICE_FIELDS: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in self.SERVICE_FIELDS
            ]
        super().save(*args, **kwargs)


class Heartbeat(models.Model):
    """Last time a worker ran the beat-scheduled heartbeat for a queue: proof that beat, broker and a
    worker for that queue are all alive, and how far behind the queue runs."""

    key = models.CharField(_("key"), max_length=100, unique=True)
    seen_at = models.DateTimeField(_("last seen"))
    hostname = models.CharField(_("worker"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class AuditLog(models.Model):
    """Who did what to which record, and when: every change staff make through a service, and every time
    someone saw a customer's full phone number. Append-only; viewable (not editable) in the admin."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # kept when the user is deleted, and names the system for changes made by jobs and callbacks
    actor_label = models.CharField(_("who (as recorded)"), max_length=150)
    action = models.CharField(_("action"), max_length=32)
    target_type = models.CharField(_("record type"), max_length=64)
    target_id = models.CharField(_("record id"), max_length=64)
    target_repr = models.CharField(_("record"), max_length=255, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    at = models.DateTimeField(_("when"))

    class Meta:
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "-at"], name="core_audit_target"),
            models.Index(fields=["at"], name="core_audit_at"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.target_type}#{self.target_id}"
