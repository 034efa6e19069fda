"""Admin for customer groups. WeCom owns them (callbacks and the sync write them through services), so they are
read-only here: an edit in the admin would be overwritten by the next sync and never reach WeCom.

A group's page shows its growth over the last 30 days (members, joins, quits: server-drawn SVG), and the list links
to the growth of all groups."""

from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse
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
    list_display = ["name_or_id", "chat_id", "owner_userid", "member_count", "status", "bot", "wecom_created_at"]
    list_filter = ["status"]
    list_select_related = ["bot_assignment__bot"]
    actions = ["assign_to_bot"]
    search_fields = ["chat_id", "name", "owner_userid"]
    date_hierarchy = "wecom_created_at"
    inlines = [GroupMemberInline]
    readonly_fields = ["growth"]
    change_list_template = "admin/groups/customergroup/change_list.html"

    @admin.display(description=_("name"), ordering="name")
    def name_or_id(self, obj: CustomerGroup) -> str:
        return obj.name or "—"

    @admin.display(description=_("bot"), ordering="bot_assignment__bot__userid")
    def bot(self, obj: CustomerGroup) -> str:
        assignment = getattr(obj, "bot_assignment", None)
        return str(assignment.bot) if assignment else "—"

    @admin.action(description=_("Assign the selected groups to a bot"), permissions=["assign"])
    def assign_to_bot(self, request, queryset):
        # The bots admin's assign page takes it from here (its form picks the bot; the service checks the cap).
        ids = ",".join(str(pk) for pk in queryset.order_by("pk").values_list("pk", flat=True))
        return HttpResponseRedirect(f"{reverse('admin:groups_bot_assign')}?{urlencode({'groups': ids})}")

    def has_assign_permission(self, request) -> bool:
        return request.user.has_perm("groups.change_bot")

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
