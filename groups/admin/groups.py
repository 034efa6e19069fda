"""Admin for customer groups. WeCom owns them (callbacks and the sync write them through services), so they are
read-only here: an edit in the admin would be overwritten by the next sync and never reach WeCom.

A group's page shows its growth over the last 30 days (members, joins, quits: server-drawn SVG), and the list links
to the growth of all groups."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from groups.admin.stats import figures_table, growth_charts
from groups.models import CustomerGroup, GroupMember
from groups.selectors.stats import DEFAULT_RANGE_DAYS, group_stats_recent
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
    readonly_fields = ["growth"]
    change_list_template = "admin/groups/customergroup/change_list.html"

    @admin.display(description=_("name"), ordering="name")
    def name_or_id(self, obj: CustomerGroup) -> str:
        return obj.name or "—"

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        fields = [name for name in fieldsets[0][1]["fields"] if name != "growth"]
        fieldsets = [(None, {"fields": fields})]
        if obj is not None and request.user.has_perm("groups.view_groupdailystat"):
            title = _("Growth, last %(days)d days") % {"days": DEFAULT_RANGE_DAYS}
            fieldsets.append((title, {"fields": ["growth"]}))
        return fieldsets

    @admin.display(description=_("growth"))
    def growth(self, obj: CustomerGroup):
        days = group_stats_recent(group_id=obj.pk)
        return growth_charts(days) + figures_table(days)

    def changelist_view(self, request, extra_context=None):
        extra = {"may_see_growth": request.user.has_perm("groups.view_groupdailystat"), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)


@admin.register(GroupMember)
class GroupMemberAdmin(ReadOnlyAdmin):
    list_display = ["member_id", "name", "member_type", "group", "join_time", "join_scene", "left_at", "quit_scene"]
    list_filter = ["member_type", "join_scene", "quit_scene"]
    list_select_related = ["group"]
    search_fields = ["member_id", "name", "group_nickname", "group__chat_id", "group__name"]
