"""Admin for customer groups. WeCom owns them (callbacks and the sync write them through services), so they are
read-only here: an edit in the admin would be overwritten by the next sync and never reach WeCom."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from groups.models import CustomerGroup, GroupMember


class GroupMemberInline(admin.TabularInline):
    model = GroupMember
    fields = [
        "member_id",
        "member_type",
        "name",
        "group_nickname",
        "join_time",
        "join_scene",
        "invitor_userid",
        "left_at",
        "quit_scene",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("members (including those who left)")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CustomerGroup)
class CustomerGroupAdmin(admin.ModelAdmin):
    list_display = ["name_or_id", "chat_id", "owner_userid", "member_count", "status", "wecom_created_at"]
    list_filter = ["status"]
    search_fields = ["chat_id", "name", "owner_userid"]
    date_hierarchy = "wecom_created_at"
    inlines = [GroupMemberInline]

    @admin.display(description=_("name"), ordering="name")
    def name_or_id(self, obj: CustomerGroup) -> str:
        return obj.name or "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(GroupMember)
class GroupMemberAdmin(admin.ModelAdmin):
    list_display = ["member_id", "name", "member_type", "group", "join_time", "join_scene", "left_at", "quit_scene"]
    list_filter = ["member_type", "join_scene", "quit_scene"]
    list_select_related = ["group"]
    search_fields = ["member_id", "name", "group_nickname", "group__chat_id", "group__name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
