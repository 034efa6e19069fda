"""Admin for bulk tagging jobs: tag or untag a whole segment (the count shown before confirming), follow the job's
progress, undo a finished job or run a failed one again. Jobs are records of what happened, never edited here;
starting, undoing and running again need ``tagging.add_tagbulkjob`` (operations)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from scrm.core.admin_base import ReadOnlyAdmin
from tagging.models import Tag, TagBulkJob, TagTarget
from tagging.segments import customers_in_segment, validate
from tagging.selectors import tags_settable_on_customers
from tagging.services.bulk import tag_bulk_job_create, tag_bulk_job_retry, tag_bulk_job_undo

TEMPLATES = "admin/tagging/tagbulkjob"
ACTIVE = {TagBulkJob.Status.PENDING, TagBulkJob.Status.RUNNING, TagBulkJob.Status.UNDOING}


class TagChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Tag) -> str:
        return obj.label


class BulkJobForm(forms.Form):
    tag = TagChoiceField(
        label=_("tag"),
        queryset=tags_settable_on_customers(),
    )
    action = forms.ChoiceField(label=_("action"), choices=TagBulkJob.Action.choices)
    expression = forms.CharField(
        label=_("segment expression"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text=_("For example: (奶粉 OR 辅食) AND NOT 已流失 AND stage:谈判 AND spend>=500"),
    )

    def clean_expression(self) -> str:
        expression = self.cleaned_data["expression"].strip()
        validate(expression, target=TagTarget.CUSTOMER)  # a SegmentError names the position
        return expression


@admin.register(TagBulkJob)
class TagBulkJobAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "tag", "action", "expression", "status", "progress_bar", "changed", "created_by"]
    list_filter = ["status", "action"]
    list_select_related = ["tag__group", "created_by"]
    search_fields = ["expression", "tag__name"]
    date_hierarchy = "created_at"
    fields = [
        "tag",
        "action",
        "expression",
        "status",
        "progress_bar",
        "total",
        "processed",
        "changed",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "undone_at",
    ]
    readonly_fields = fields
    actions = ["undo_jobs", "retry_jobs"]
    change_list_template = f"{TEMPLATES}/change_list.html"
    change_form_template = f"{TEMPLATES}/change_form.html"

    def get_urls(self):
        new = path("new/", self.admin_site.admin_view(self.new_view), name="tagging_tagbulkjob_new")
        return [new, *super().get_urls()]

    def has_run_permission(self, request) -> bool:
        return request.user.has_perm("tagging.add_tagbulkjob")

    def changelist_view(self, request, extra_context=None):
        extra = {"may_run": self.has_run_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        extra = {"refresh": job is not None and job.status in ACTIVE, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context=extra)

    @admin.display(description=_("progress"))
    def progress_bar(self, job: TagBulkJob):
        if job.total is None:
            return "—"
        return format_html(
            '<progress value="{}" max="{}"></progress> {}% ({} / {})',
            job.processed,
            job.total or 1,
            round(job.progress * 100),
            job.processed,
            job.total,
        )

    def new_view(self, request):
        """Two steps: the form, then its count (customers in the segment, and how many the job would change)
        with a confirm button; only the confirmed POST creates the job."""
        if not self.has_run_permission(request):
            raise PermissionDenied
        form = BulkJobForm(request.POST or None)
        preview = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            if request.POST.get("confirm") == "yes":
                try:
                    job = tag_bulk_job_create(**data, actor=request.user)
                except ValidationError as exc:
                    _add_errors(form, exc)
                else:
                    messages.success(request, gettext("The job has started; this page shows its progress."))
                    return HttpResponseRedirect(reverse("admin:tagging_tagbulkjob_change", args=[job.pk]))
            else:
                preview = _preview(data)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Tag or untag a segment"),
            "form": form,
            "preview": preview,
        }
        return TemplateResponse(request, f"{TEMPLATES}/new.html", context)

    @admin.action(description=_("Undo the selected finished jobs"), permissions=["run"])
    def undo_jobs(self, request, queryset):
        jobs = list(queryset.filter(status=TagBulkJob.Status.DONE).select_related("tag__group"))
        if not jobs:
            self.message_user(request, gettext("Only finished jobs can be undone."), messages.ERROR)
            return None
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Undo bulk tagging jobs"),
                "jobs": jobs,
                "action_name": "undo_jobs",
            }
            return TemplateResponse(request, f"{TEMPLATES}/undo_confirm.html", context)
        for job in jobs:
            try:
                tag_bulk_job_undo(job=job, actor=request.user)
            except ValidationError as exc:  # another request undid it since the page was shown
                self.message_user(request, f"#{job.pk}: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, gettext("Job #%(id)s is being undone.") % {"id": job.pk})
        return None

    @admin.action(description=_("Run the selected failed jobs again"), permissions=["run"])
    def retry_jobs(self, request, queryset):
        jobs = list(queryset.filter(status=TagBulkJob.Status.FAILED))
        for job in jobs:
            tag_bulk_job_retry(job=job)
        message = ngettext(
            "%(count)s failed job will run again from where it stopped.",
            "%(count)s failed jobs will run again from where they stopped.",
            len(jobs),
        )
        self.message_user(request, message % {"count": len(jobs)})


def _preview(data: dict) -> dict[str, int]:
    members = customers_in_segment(data["expression"])
    count = members.count()
    carrying = members.filter(tag_ids__has_all=[data["tag"].pk]).count()
    adding = data["action"] == TagBulkJob.Action.ADD
    return {"count": count, "carrying": carrying, "changes": count - carrying if adding else carrying}


def _add_errors(form: forms.Form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]:
        form.add_error(field if field in form.fields else None, errors)
