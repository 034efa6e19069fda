from django.contrib import admin

from scrm.core.admin_base import ReadOnlyAdmin
from scrm.core.models import AuditLog, Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["key", "seen_at", "hostname"]


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_label", "action", "target_type", "target_id", "target_repr"]
    list_filter = ["action", "target_type"]
    search_fields = ["=target_id", "actor_label", "target_repr"]
    readonly_fields = ["at", "actor", "actor_label", "action", "target_type", "target_id", "target_repr", "changes"]
    show_full_result_count = False
