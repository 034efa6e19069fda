"""Bulk tagging of a whole segment as a background job, with progress and undo.

The job records exactly what it changed in ``TagBulkJobChunk`` rows (customers it tagged, or the assignments it
removed with their original source, actor, rule and time), so undo reverses that and nothing else.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from scrm.core.fields import IntArrayField
from tagging.models.taxonomy import Tag


class TagBulkJob(models.Model):
    class Action(models.TextChoices):
        ADD = "add", _("add the tag")
        REMOVE = "remove", _("remove the tag")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")
        UNDOING = "undoing", _("undoing")
        UNDONE = "undone", _("undone")

    tag = models.ForeignKey(Tag, verbose_name=_("tag"), on_delete=models.PROTECT, related_name="+")
    action = models.CharField(_("action"), max_length=8, choices=Action.choices)
    expression = models.TextField(_("segment expression"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(_("customers in the segment"), null=True, blank=True)
    processed = models.PositiveIntegerField(_("processed"), default=0)
    changed = models.PositiveIntegerField(_("changed"), default=0)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)

    class Meta:
        verbose_name = _("bulk tagging job")
        verbose_name_plural = _("bulk tagging jobs")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.tag} #{self.pk}"

    @property
    def progress(self) -> float:
        return 1.0 if not self.total else min(1.0, self.processed / self.total)


class TagBulkJobChunk(models.Model):
    job = models.ForeignKey(TagBulkJob, verbose_name=_("job"), on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField(_("sequence"))
    customer_ids = IntArrayField(_("customers changed"), default=list)
    # For removals: the removed assignments as they were, parallel to customer_ids:
    # {"source": [...], "actor": [...], "rule": [...], "created_at": [...ISO...]}
    removed = models.JSONField(_("removed assignments"), default=dict, blank=True)

    class Meta:
        verbose_name = _("bulk tagging job chunk")
        verbose_name_plural = _("bulk tagging job chunks")
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="tagging_bulkjobchunk_uniq")]

    def __str__(self) -> str:
        return f"{self.job_id}/{self.seq}"
