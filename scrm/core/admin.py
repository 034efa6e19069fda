from django.contrib import admin

from scrm.core.admin_base import ReadOnlyAdmin
from scrm.core.models import Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["key", "seen_at", "hostname"]
