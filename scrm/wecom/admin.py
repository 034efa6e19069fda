from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from scrm.core.admin_base import ReadOnlyAdmin
from scrm.wecom.models import InboxEvent, SyncState
from scrm.wecom.services import inbox_events_replay
from scrm.wecom.setup_check import run_setup_checks


@admin.register(InboxEvent)
class InboxEventAdmin(admin.ModelAdmin):
    list_display = ["id", "received_at", "event", "change_type", "status", "attempts", "next_attempt_at", "error"]
    list_filter = ["status", "event", "change_type"]
    search_fields = ["dedupe_key", "raw_xml"]
    date_hierarchy = "received_at"
    readonly_fields = [field.name for field in InboxEvent._meta.fields]
    actions = ["replay"]

    @admin.display(description=_("last error"))
    def error(self, obj: InboxEvent) -> str:
        return obj.last_error.splitlines()[-1][:120] if obj.last_error else ""

    @admin.action(description=_("Replay selected events"), permissions=["change"])
    def replay(self, request, queryset):
        count = inbox_events_replay(event_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            ngettext("%(count)d event queued again.", "%(count)d events queued again.", count) % {"count": count},
            messages.SUCCESS,
        )

    def get_urls(self):
        view = self.admin_site.admin_view(self.setup_check_view)
        return [path("setup-check/", view, name="wecom_setup_check"), *super().get_urls()]

    def setup_check_view(self, request):
        """The same checks as ``manage.py wecom_check``, for ops who never open a terminal."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": _("WeCom setup check"),
            "opts": self.model._meta,
            "results": run_setup_checks(),
        }
        return TemplateResponse(request, "admin/wecom/setup_check.html", context)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SyncState)
class SyncStateAdmin(ReadOnlyAdmin):
    list_display = ["resource", "status", "counts", "started_at", "heartbeat_at", "finished_at", "last_error"]
