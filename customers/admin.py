"""Admin for the WeCom-side records. WeCom owns them (callbacks and the sync write them through services), so
they are read-only here: an edit in the admin would be overwritten by the next sync and never reach WeCom."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from customers.models import Employee, ExternalContact, FollowRelation
from customers.services.identity import employee_link_user
from scrm.core.admin_base import ReadOnlyAdmin, ReadOnlyTabularInline


class FollowRelationInline(ReadOnlyTabularInline):
    model = FollowRelation
    fk_name = "contact"
    fields = ["employee", "remark", "state", "add_way", "added_at", "status", "status_changed_at"]
    show_change_link = True
    verbose_name_plural = _("followed by")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("employee")


@admin.register(Employee)
class EmployeeAdmin(ReadOnlyAdmin):
    """Read-only but for the staff login, which is ours, not WeCom's: it decides which customers a sales user
    sees."""

    list_display = ["userid", "name", "status", "user", "department_ids", "updated_at"]
    list_filter = ["status"]
    list_select_related = ["user"]
    search_fields = ["userid", "name", "user__username"]
    fields = ["userid", "name", "status", "department_ids", "avatar", "user"]
    readonly_fields = ["userid", "name", "status", "department_ids", "avatar"]

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("customers.change_employee")

    def save_model(self, request, obj, form, change):
        if "user" in form.changed_data:
            employee_link_user(employee=obj, user=form.cleaned_data["user"], actor=request.user)


@admin.register(ExternalContact)
class ExternalContactAdmin(ReadOnlyAdmin):
    list_display = ["external_userid", "name", "type", "gender", "corp_name", "synced_at", "created_at"]
    list_filter = ["type", "gender"]
    search_fields = ["external_userid", "name", "unionid", "corp_name"]
    date_hierarchy = "created_at"
    inlines = [FollowRelationInline]


@admin.register(FollowRelation)
class FollowRelationAdmin(ReadOnlyAdmin):
    list_display = ["employee", "contact", "remark", "state", "add_way", "status", "added_at", "status_changed_at"]
    list_filter = ["status", "add_way"]
    list_select_related = ["employee", "contact"]
    search_fields = [
        "employee__userid",
        "employee__name",
        "contact__external_userid",
        "contact__name",
        "remark",
        "state",
    ]
    date_hierarchy = "added_at"


import customers.admin_imports  # noqa: E402 - follow-up imports, registered on import
import customers.admin_transfers  # noqa: E402, F401 - transfers and alerts, registered on import
from customers import admin_customers  # noqa: E402, F401 - the customer pages, registered on import
