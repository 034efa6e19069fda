"""Admin for follow-up imports: upload a calls or SMS file (the import runs in a Celery task), follow the job's
progress and counts, read its first errors and download its error report. Jobs are records of what happened, so
they are never edited here."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from customers.imports.readers import CSV_SUFFIXES, XLSX_SUFFIXES
from customers.imports.rows import COLUMNS
from customers.models import ImportJob
from customers.services.imports import import_job_create
from scrm.core.admin_base import ReadOnlyAdmin
from scrm.core.errors import DomainError

TEMPLATES = "admin/customers/importjob"
COUNTS = ["total_rows", "imported_rows", "duplicate_rows", "rejected_rows", "customers_created"]


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("the file holds"), choices=ImportJob.Kind.choices)
    file = forms.FileField(
        label=_("file"),
        help_text=_("CSV (UTF-8 or GB18030) or XLSX; row 1 names the columns."),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(CSV_SUFFIXES + XLSX_SUFFIXES)}),
    )


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "file_name", "kind", "status", *COUNTS, "actor", "finished_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["actor"]
    search_fields = ["file_name"]
    date_hierarchy = "created_at"
    fields = [
        "file_name",
        "kind",
        "status",
        "message",
        *COUNTS,
        "error_report_link",
        "first_errors",
        "actor",
        "created_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields
    change_list_template = f"{TEMPLATES}/change_list.html"

    def get_urls(self):
        pages = [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="customers_importjob_upload"),
            path(
                "<int:pk>/error-report/",
                self.admin_site.admin_view(self.error_report_view),
                name="customers_importjob_error_report",
            ),
        ]
        return [*pages, *super().get_urls()]

    def has_import_permission(self, request) -> bool:
        return request.user.has_perm("customers.add_importjob")

    def changelist_view(self, request, extra_context=None):
        extra = {"may_import": self.has_import_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    @admin.display(description=_("error report"))
    def error_report_link(self, job: ImportJob):
        if not job.error_report:
            return "—"
        url = reverse("admin:customers_importjob_error_report", args=[job.pk])
        return format_html('<a href="{}">{}</a>', url, _("Download (%(rows)s rows)") % {"rows": job.rejected_rows})

    @admin.display(description=_("first errors"))
    def first_errors(self, job: ImportJob):
        if not job.error_sample:
            return "—"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td></tr>", ((error["row"], error["reason"]) for error in job.error_sample)
        )
        return format_html("<table><tr><th>{}</th><th>{}</th></tr>{}</table>", _("row"), _("reason"), rows)

    def upload_view(self, request):
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                job = import_job_create(
                    kind=form.cleaned_data["kind"], upload=form.cleaned_data["file"], actor=request.user
                )
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc.message))
            else:
                messages.success(
                    request, _("“%(file)s” is being imported; this page shows its progress.") % {"file": job.file_name}
                )
                return HttpResponseRedirect(reverse("admin:customers_importjob_change", args=[job.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Import calls or SMS"),
            "form": form,
            "time_zone": settings.TIME_ZONE,
            "columns": [
                (ImportJob.Kind(kind).label, [(column.label, column.names, column.required) for column in columns])
                for kind, columns in COLUMNS.items()
            ],
        }
        return TemplateResponse(request, f"{TEMPLATES}/upload.html", context)

    def error_report_view(self, request, pk: int):
        # the report holds the rows as typed, full phone numbers included
        if not request.user.has_perms(["customers.view_importjob", "customers.view_full_phone"]):
            raise PermissionDenied
        job = ImportJob.objects.filter(pk=pk).first()
        if job is None or not job.error_report:
            raise Http404
        try:
            stream = job.error_report.open("rb")
        except FileNotFoundError:
            raise Http404 from None
        return FileResponse(stream, as_attachment=True, filename=f"import-{job.pk}-errors.csv")
