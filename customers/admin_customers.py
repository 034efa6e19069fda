"""Admin for customers: search by phone (any spelling, or the last four digits) and name, the timeline, orders
and contacts on the customer's page, merges (action and record), and the configuration ops edit (opportunity
stages, member tiers). Every write goes through ``customers.services``; sales see only their own customers."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import ProtectedError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from customers.models import (
    Customer,
    CustomerMerge,
    ExternalContact,
    MemberTier,
    OpportunityStage,
    Order,
    StageChange,
)
from customers.phones import phone_normalize
from customers.selectors import (
    customer_timeline,
    customers_matching,
    customers_visible_to,
    of_visible_customers,
    user_employee,
)
from customers.services import (
    customer_bind_phone,
    customer_create,
    customer_merge,
    customer_phone_reveal,
    customer_update,
    lifecycle_set,
    opportunity_stage_set,
)
from scrm.core.admin_base import ReadOnlyAdmin, ReadOnlyTabularInline

TIMELINE_HEAD = 30


class CustomerForm(forms.ModelForm):
    phone = forms.CharField(
        label=_("phone"),
        required=False,
        help_text=_("A mainland mobile as 13812345678; other numbers with their country code (+852 …)."),
    )

    class Meta:
        model = Customer
        fields = ["name", "owner", "lifecycle_stage", "opportunity_stage", "marketing_opt_out", "referred_by"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.phone:  # a number is bound once; a second one is a merge, done explicitly
            self.fields["phone"].disabled = True
            self.initial["phone"] = self.instance.masked_phone
            self.fields["phone"].help_text = _("Bound; to join two customers use the merge action.")
        if "opportunity_stage" in self.fields:
            self.fields["opportunity_stage"].queryset = OpportunityStage.objects.filter(is_active=True)
        if "referred_by" in self.fields:  # a select of a million customers would not load
            self.fields["referred_by"].widget = forms.NumberInput()

    def clean_phone(self) -> str:
        if self.fields["phone"].disabled:
            return self.instance.phone
        raw = self.cleaned_data.get("phone", "")
        return phone_normalize(raw) if raw.strip() else ""


class OrderInline(ReadOnlyTabularInline):
    model = Order
    fields = ["external_id", "amount", "ordered_at", "source"]
    ordering = ["-ordered_at"]
    max_num = 0


class ContactInline(ReadOnlyTabularInline):
    model = ExternalContact
    fields = ["external_userid", "name", "type", "corp_name", "synced_at"]
    show_change_link = True
    verbose_name_plural = _("WeCom contacts")


class StageChangeInline(ReadOnlyTabularInline):
    model = StageChange
    fields = ["changed_at", "pipeline", "from_value", "to_value", "actor", "reason"]
    ordering = ["-changed_at"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerForm
    list_display = [
        "id",
        "name",
        "masked_phone",
        "owner",
        "lifecycle_stage",
        "opportunity_stage",
        "tier",
        "total_spend",
        "last_contact_at",
        "marketing_opt_out",
    ]
    list_display_links = ["id", "name"]
    list_filter = ["lifecycle_stage", "opportunity_stage", "tier", "marketing_opt_out", "origin"]
    list_select_related = ["owner", "opportunity_stage", "tier"]
    search_fields = ["name"]  # replaced by customers_matching below; declared so the search box shows
    search_help_text = _("A phone number, its last four digits, or part of a name.")
    show_full_result_count = False  # counting a million rows on every page view costs more than the page
    readonly_fields = [
        "phone_shown",
        "origin",
        "tier",
        "total_spend",
        "order_count",
        "last_contact_at",
        "created_at",
        "timeline_head",
    ]
    fieldsets = [
        (None, {"fields": ["name", "phone", "phone_shown", "owner", "marketing_opt_out", "referred_by"]}),
        (_("Stages"), {"fields": ["lifecycle_stage", "opportunity_stage"]}),
        (
            _("Spend and activity"),
            {"fields": ["tier", "total_spend", "order_count", "last_contact_at", "origin", "created_at"]},
        ),
        (_("Timeline"), {"fields": ["timeline_head"]}),
    ]
    inlines = [ContactInline, OrderInline, StageChangeInline]
    actions = ["merge_customers"]

    def get_queryset(self, request):
        return customers_visible_to(user=request.user)

    def get_search_results(self, request, queryset, search_term):
        return customers_matching(queryset, search_term), False

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # adding: nothing to show yet
            return [(None, {"fields": ["name", "phone", "owner", "marketing_opt_out"]})]
        return self.fieldsets

    @admin.display(description=_("phone"))
    def masked_phone(self, obj: Customer) -> str:
        return obj.masked_phone

    @admin.display(description=_("phone (masked)"))
    def phone_shown(self, obj: Customer) -> str:
        if not obj.phone:
            return "—"
        if not getattr(obj, "may_reveal_phone", False):
            return obj.masked_phone
        url = reverse("admin:customers_customer_phone", args=[obj.pk])
        return format_html('{} <a href="{}">{}</a>', obj.masked_phone, url, _("show full number (recorded)"))

    @admin.display(description=_("latest timeline entries"))
    def timeline_head(self, obj: Customer) -> str:
        entries = customer_timeline(customer=obj, limit=TIMELINE_HEAD)
        if not entries:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (f"{e.occurred_at:%Y-%m-%d %H:%M}", e.get_kind_display(), e.employee or "", e.summary or e.content[:80])
                for e in entries
            ),
        )
        return format_html("<table>{}</table>", rows)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:  # read by phone_shown, which is not given the request
            obj.may_reveal_phone = request.user.has_perm("customers.view_full_phone")
        return obj

    def get_urls(self):
        reveal = path(
            "<int:pk>/phone/", self.admin_site.admin_view(self.reveal_phone_view), name="customers_customer_phone"
        )
        return [reveal, *super().get_urls()]

    def reveal_phone_view(self, request, pk: int):
        customer = get_object_or_404(self.get_queryset(request), pk=pk)
        phone = customer_phone_reveal(customer=customer, user=request.user)  # refuses and audits
        context = {**self.admin_site.each_context(request), "customer": customer, "phone": phone, "opts": self.opts}
        return TemplateResponse(request, "admin/customers/customer/phone.html", context)

    # ---- writes go through the services ------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            created = customer_create(
                phone=data.get("phone", ""), name=data["name"], owner=data["owner"], actor=request.user
            )
            obj.pk, obj.phone = created.pk, created.phone
            if data.get("marketing_opt_out"):
                customer_update(customer=created, actor=request.user, marketing_opt_out=True)
            return
        current = Customer.objects.get(pk=obj.pk)
        editable = {"name", "owner", "marketing_opt_out", "referred_by"} & set(form.changed_data)
        if editable:
            customer_update(customer=current, actor=request.user, **{name: data[name] for name in editable})
        if "lifecycle_stage" in form.changed_data:
            lifecycle_set(customer=current, stage=data["lifecycle_stage"], actor=request.user)
        if "opportunity_stage" in form.changed_data:
            opportunity_stage_set(customer=current, stage=data["opportunity_stage"], actor=request.user)
        if data.get("phone") and not current.phone:
            holder = customer_bind_phone(customer=current, phone=data["phone"], actor=request.user)
            if holder.pk != current.pk:
                request._customer_merged_into = holder
                messages.warning(
                    request,
                    _("That number belongs to customer #%(id)s; the two were merged into it.") % {"id": holder.pk},
                )

    def response_change(self, request, obj):
        holder = getattr(request, "_customer_merged_into", None)
        if holder is not None:
            return HttpResponseRedirect(reverse("admin:customers_customer_change", args=[holder.pk]))
        return super().response_change(request, obj)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or self.get_queryset(request).filter(pk=obj.pk).exists())

    def has_delete_permission(self, request, obj=None):
        return False  # a customer leaves by merging; its history is the company's

    def get_changeform_initial_data(self, request):
        employee = user_employee(request.user)
        return {"owner": employee.pk} if employee else {}

    @admin.action(description=_("Merge the two selected customers"), permissions=["merge"])
    def merge_customers(self, request, queryset):
        customers = list(queryset.order_by("pk")[:3])
        if len(customers) != 2:
            self.message_user(request, _("Select exactly two customers to merge."), messages.ERROR)
            return None
        if request.POST.get("confirm") == "yes":
            into_pk = int(request.POST.get("into", customers[0].pk))
            into, other = customers if customers[0].pk == into_pk else customers[::-1]
            try:
                customer_merge(into=into, other=other, actor=request.user, reason=request.POST.get("reason", ""))
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)
                return None
            self.message_user(
                request, _("Customer #%(other)s merged into #%(into)s.") % {"other": other.pk, "into": into.pk}
            )
            return HttpResponseRedirect(reverse("admin:customers_customer_change", args=[into.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "customers": customers,
            "action_name": "merge_customers",
            "selected": [c.pk for c in customers],
        }
        return TemplateResponse(request, "admin/customers/customer/merge_confirm.html", context)

    def has_merge_permission(self, request) -> bool:
        return request.user.has_perm("customers.delete_customer") or request.user.has_perm(
            "customers.view_all_customers"
        )


@admin.register(CustomerMerge)
class CustomerMergeAdmin(ReadOnlyAdmin):
    list_display = ["merged_at", "into", "other_id", "other_name", "moved", "actor", "reason"]
    list_select_related = ["into", "actor"]
    search_fields = ["=other_id", "=into__id", "other_name"]
    readonly_fields = ["into", "other_id", "other_name", "snapshot", "moved", "reason", "actor", "merged_at"]


@admin.register(OpportunityStage)
class OpportunityStageAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "outcome", "is_active"]
    list_editable = ["position", "is_active"]

    def delete_model(self, request, obj):
        try:
            obj.delete()
        except ProtectedError:
            raise PermissionDenied(_("This stage is in use; deactivate it instead.")) from None


@admin.register(MemberTier)
class MemberTierAdmin(admin.ModelAdmin):
    list_display = ["name", "min_spend"]


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ["external_id", "customer", "amount", "ordered_at", "source"]
    list_select_related = ["customer"]
    search_fields = ["=external_id"]
    show_full_result_count = False

    def get_queryset(self, request):
        return of_visible_customers(super().get_queryset(request), user=request.user)


@admin.register(StageChange)
class StageChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_at", "customer", "pipeline", "from_value", "to_value", "actor", "reason"]
    list_filter = ["pipeline"]
    list_select_related = ["customer", "actor"]
    show_full_result_count = False

    def get_queryset(self, request):
        return of_visible_customers(super().get_queryset(request), user=request.user)
