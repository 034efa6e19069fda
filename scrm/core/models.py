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
