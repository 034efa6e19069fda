from django.contrib import admin

from scrm.core.models import Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["key", "seen_at", "hostname"]
    readonly_fields = ["key", "seen_at", "hostname"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
