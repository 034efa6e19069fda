from django.db import models
from django.utils.translation import gettext_lazy as _


class InboxEvent(models.Model):
    """A callback from WeCom, stored before it is answered and processed afterwards: nothing is lost.

    ``dedupe_key`` is the hash of the decrypted message, so WeCom's retries of one delivery (same bytes) land on
    the same row and take effect once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        PROCESSING = "processing", _("processing")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")
        UNHANDLED = "unhandled", _("no handler")

    dedupe_key = models.CharField(_("dedupe key"), max_length=64)
    event = models.CharField(_("event"), max_length=64)
    change_type = models.CharField(_("change type"), max_length=64, blank=True)
    payload = models.JSONField(_("payload"))
    raw_xml = models.TextField(_("decrypted XML"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("callback event")
        verbose_name_plural = _("callback inbox")
        ordering = ["-received_at"]
        # Declared here rather than unique=True/db_index=True on the fields: on PostgreSQL those add a LIKE index
        # per text column, an extra write on the callback's hot path that no query uses.
        constraints = [models.UniqueConstraint(fields=["dedupe_key"], name="wecom_inbox_dedupe_key_uniq")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="wecom_inbox_due"),
            models.Index(fields=["event", "change_type"], name="wecom_inbox_event"),
            models.Index(fields=["received_at"], name="wecom_inbox_received"),
        ]

    def __str__(self) -> str:
        return f"{self.event}/{self.change_type} #{self.pk}"


class SyncState(models.Model):
    """Where the full sync of one resource stands. The position is saved after every page, so a sync that
    stopped (Ctrl-C, deploy, crash) resumes from there instead of starting over."""

    class Status(models.TextChoices):
        IDLE = "idle", _("idle")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    resource = models.CharField(_("resource"), max_length=32, unique=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.IDLE)
    position = models.JSONField(_("resume position"), default=dict, blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("sync state")
        verbose_name_plural = _("sync states")
        ordering = ["resource"]

    def __str__(self) -> str:
        return self.resource
