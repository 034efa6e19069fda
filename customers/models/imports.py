"""Follow-up imports (calls, SMS) from CSV/XLSX files: one row per run, with its counts and error report."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from scrm.core.models import TimeStampedModel


class ImportJob(TimeStampedModel):
    """One import of one file. Counts add up: ``total_rows = imported_rows + duplicate_rows + rejected_rows``
    once it is done; every rejected row is in ``error_report`` with its row number and reason."""

    class Kind(models.TextChoices):
        CALLS = "calls", _("phone calls")
        SMS = "sms", _("SMS")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    file_name = models.CharField(_("file"), max_length=255)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(_("rows read"), default=0)
    imported_rows = models.PositiveIntegerField(_("rows imported"), default=0)
    duplicate_rows = models.PositiveIntegerField(_("rows already imported"), default=0)
    rejected_rows = models.PositiveIntegerField(_("rows rejected"), default=0)
    customers_created = models.PositiveIntegerField(_("new customers"), default=0)
    # every rejected row (row number, reason, the row as read), as a CSV file under MEDIA_ROOT
    error_report = models.FileField(_("error report"), upload_to="imports/errors/", blank=True)
    # the first rejected rows, shown in the admin without opening the report: [{"row": n, "reason": "…"}]
    error_sample = models.JSONField(_("first errors"), default=list, blank=True)
    message = models.TextField(_("message"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("imported by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("follow-up import")
        verbose_name_plural = _("follow-up imports")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_at"], name="customers_import_created")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.file_name}"
