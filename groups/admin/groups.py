"""Admin for customer groups. WeCom owns them (callbacks and the sync write them through services), so they are
read-only here: an edit in the admin would be overwritten by the next sync and never reach WeCom."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from groups.models import CustomerGroup, GroupMember
from scrm.core.admin_base import ReadOnlyAdmin, ReadOnlyTabularInline


class GroupMemberInline(ReadOnlyTabularInline):
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
    verbose_name_plural = _("members (including those who left)")


@admin.register(CustomerGroup)
class CustomerGroupAdmin(ReadOnlyAdmin):
    list_display = ["name_or_id", "chat_id", "owner_userid", "member_count", "status", "wecom_created_at"]
    list_filter = ["status"]
    search_fields = ["chat_id", "name", "owner_userid"]
    date_hierarchy = "wecom_created_at"
    inlines = [GroupMemberInline]

    @admin.display(description=_("name"), ordering="name")
    def name_or_id(self, obj: CustomerGroup) -> str:
        return obj.name or "—"


@admin.register(GroupMember)
class GroupMemberAdmin(ReadOnlyAdmin):
    list_display = ["member_id", "name", "member_type", "group", "join_time", "join_scene", "left_at", "quit_scene"]
    list_filter = ["member_type", "join_scene", "quit_scene"]
    list_select_related = ["group"]
    search_fields = ["member_id", "name", "group_nickname", "group__chat_id", "group__name"]
