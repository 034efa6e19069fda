"""Admin for tag assignments and the WeCom ``mark_tag`` outbox, both read-only: assignments change through the
customer's tags (API, rules, bulk jobs, WeCom), pushes through the outbox drain. Sales see only rows of the
customers they may see. A push WeCom refused can be sent again."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from customers.models import Customer
from customers.selectors import customers_matching, of_visible_customers
from scrm.core.admin_base import ReadOnlyAdmin
from tagging.models import CustomerTag, WeComTagPush
from tagging.services.wecom_tag_pushes import wecom_tag_pushes_retry


@admin.register(CustomerTag)
class CustomerTagAdmin(ReadOnlyAdmin):
    list_display = ["customer", "masked_phone", "tag", "tag_kind", "source", "actor", "rule", "created_at"]
    list_filter = ["source", "tag__kind"]
    list_select_related = ["customer", "tag__group", "actor", "rule"]
    search_fields = ["customer__name"]  # replaced by customers_matching below; declared so the search box shows
    search_help_text = _("The customer's phone number, its last four digits, or part of the name.")
    show_full_result_count = False  # a million customers carry eight tags each
    ordering = ["-created_at", "-id"]

    def get_queryset(self, request):
        return of_visible_customers(super().get_queryset(request), user=request.user)

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.filter(customer__in=customers_matching(Customer.objects.all(), search_term)), False

    @admin.display(description=_("phone"))
    def masked_phone(self, obj: CustomerTag) -> str:
        return obj.customer.masked_phone

    @admin.display(description=_("kind"), ordering="tag__kind")
    def tag_kind(self, obj: CustomerTag) -> str:
        return obj.tag.get_kind_display()


@admin.register(WeComTagPush)
class WeComTagPushAdmin(ReadOnlyAdmin):
    list_display = [
        "__str__",
        "relation",
        "status",
        "add_tag_ids",
        "remove_tag_ids",
        "attempts",
        "due_at",
        "last_error",
    ]
    list_filter = ["status"]
    list_select_related = ["relation__employee", "relation__contact"]
    search_fields = ["=relation__employee__userid", "=relation__contact__external_userid"]
    search_help_text = _("An employee's userid or a customer's external userid.")
    show_full_result_count = False
    ordering = ["-created_at", "-id"]
    actions = ["send_again"]

    def get_queryset(self, request):
        return of_visible_customers(
            super().get_queryset(request), user=request.user, customer_path="relation__contact__customer"
        )

    @admin.action(description=_("Send again (failed ones, as the customer's tags are now)"), permissions=["resend"])
    def send_again(self, request, queryset):
        queued = wecom_tag_pushes_retry(
            push_ids=queryset.filter(status=WeComTagPush.Status.FAILED).values_list("pk", flat=True)
        )
        self.message_user(
            request,
            ngettext(
                "%(count)s follow relation queued for WeCom.", "%(count)s follow relations queued for WeCom.", queued
            )
            % {"count": queued},
        )

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm("tagging.change_wecomtagpush")
