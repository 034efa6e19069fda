"""Admin for customer transfers and alerts: the transfer records (read-only: WeCom decides their outcome), the
"transfer customers" page (在职继承) and the unassigned customers of resigned staff (离职继承), both of which show
each customer's eligibility under WeCom's two-per-90-days rule before asking for confirmation, and the open alerts
with a "mark resolved" action. Every write goes through the services; the transfer pages are for ops only."""

from __future__ import annotations

from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from customers.models import CustomerAlert, CustomerTransfer, Employee, ExternalContact
from customers.selectors import of_visible_customers
from customers.services.alerts import alerts_resolve
from customers.services.transfers import MAX_SUCCESS_MSG, customers_transfer, unassigned_refresh
from customers.transfer_selectors import employee_transferable_contacts, transfer_eligibility, unassigned_contacts
from scrm.core.admin_base import ReadOnlyAdmin
from scrm.wecom.errors import WeComError

Kind = CustomerTransfer.Kind
TEMPLATES = "admin/customers/customertransfer"


class TransferForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=Kind.choices, initial=Kind.IN_POST)
    handover = forms.ModelChoiceField(label=_("from employee"), queryset=Employee.objects.all())
    takeover = forms.ModelChoiceField(
        label=_("to employee"), queryset=Employee.objects.exclude(status=Employee.Status.RESIGNED), required=False
    )
    query = forms.CharField(label=_("search customers"), required=False)
    success_msg = forms.CharField(
        label=_("message to the customers (in post only)"), max_length=MAX_SUCCESS_MSG, required=False
    )
    contacts = forms.ModelMultipleChoiceField(queryset=ExternalContact.objects.all(), required=False)

    def clean(self):
        data = super().clean()
        if self.data.get("step") in ("review", "confirm"):
            if not data.get("takeover"):
                self.add_error("takeover", _("Choose the employee who takes the customers over."))
            if not data.get("contacts"):
                self.add_error("contacts", _("Choose at least one customer to transfer."))
        return data


class TakeoverForm(forms.Form):
    takeover = forms.ModelChoiceField(
        label=_("to employee"), queryset=Employee.objects.exclude(status=Employee.Status.RESIGNED)
    )


@admin.register(CustomerTransfer)
class CustomerTransferAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "contact",
        "handover",
        "takeover",
        "kind",
        "status",
        "errcode",
        "reason",
        "requested_at",
        "takeover_at",
        "actor",
    ]
    list_filter = ["status", "kind"]
    list_select_related = ["contact", "handover", "takeover", "actor"]
    search_fields = ["contact__external_userid", "contact__name", "handover__userid", "takeover__userid"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    change_list_template = f"{TEMPLATES}/change_list.html"

    def get_queryset(self, request):
        return of_visible_customers(super().get_queryset(request), user=request.user, customer_path="contact__customer")

    def changelist_view(self, request, extra_context=None):
        extra = {"may_transfer": self.has_transfer_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def get_urls(self):
        pages = [
            path("request/", self.admin_site.admin_view(self.request_view), name="customers_customertransfer_request"),
            path(
                "unassigned/",
                self.admin_site.admin_view(self.unassigned_view),
                name="customers_customertransfer_unassigned",
            ),
        ]
        return [*pages, *super().get_urls()]

    def has_transfer_permission(self, request) -> bool:
        return request.user.has_perm("customers.add_customertransfer")

    def _context(self, request, **values):
        return {**self.admin_site.each_context(request), "opts": self.opts, **values}

    # ---- 在职继承: choose the employees, see each customer's eligibility, review, confirm ---------------------

    def request_view(self, request):
        if not self.has_transfer_permission(request):
            raise PermissionDenied
        step = request.POST.get("step") if request.method == "POST" else ""
        form = TransferForm(request.POST if step else request.GET or None)
        if not form.is_bound or not form.is_valid():
            return self._request_page(request, form)
        data = form.cleaned_data
        if not step:  # the handover employee's customers, each with its eligibility
            return self._request_page(request, form)
        contacts = list(data["contacts"])
        if step == "confirm":
            try:
                result = customers_transfer(
                    contacts=contacts,
                    handover=data["handover"],
                    takeover=data["takeover"],
                    kind=data["kind"],
                    actor=request.user,
                    success_msg=data["success_msg"] if data["kind"] == Kind.IN_POST else "",
                )
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            else:
                self._report(request, [result])
                return HttpResponseRedirect(reverse("admin:customers_customertransfer_changelist"))
        rows = [
            (eligibility, data["handover"])
            for eligibility in transfer_eligibility(contacts=contacts, kind=data["kind"], handover=data["handover"])
        ]
        hidden = [(name, request.POST.get(name, "")) for name in ("kind", "handover", "takeover", "success_msg")]
        hidden += [("contacts", str(contact.pk)) for contact in contacts]
        return self._confirm_page(request, rows, hidden, data["takeover"], data["kind"])

    def _request_page(self, request, form):
        candidates = []
        if form.is_bound:
            form.is_valid()  # a review without a takeover or customers shows the list again, with the errors
            data = form.cleaned_data
            if data.get("handover") and data.get("kind"):
                contacts = employee_transferable_contacts(handover=data["handover"], query=data.get("query", ""))
                candidates = transfer_eligibility(contacts=contacts, kind=data["kind"], handover=data["handover"])
        context = self._context(request, form=form, candidates=candidates, title=_("Transfer customers"))
        return TemplateResponse(request, f"{TEMPLATES}/request.html", context)

    def _confirm_page(self, request, rows, hidden, takeover, kind):
        allowed = sum(1 for eligibility, _handover in rows if eligibility.allowed)
        context = self._context(
            request,
            rows=rows,
            hidden=hidden,
            takeover=takeover,
            kind=Kind(kind).label,
            allowed=allowed,
            refused=len(rows) - allowed,
            title=_("Confirm the transfer"),
        )
        return TemplateResponse(request, f"{TEMPLATES}/confirm.html", context)

    def _report(self, request, results) -> None:
        created = sum(len(result.created) for result in results)
        refused = [eligibility for result in results for eligibility in result.refused]
        self.message_user(
            request,
            _("%(created)s transfers requested from WeCom; %(refused)s customers refused.")
            % {"created": created, "refused": len(refused)},
            messages.SUCCESS if created else messages.WARNING,
        )
        for eligibility in refused[:20]:
            self.message_user(request, f"{eligibility.contact}: {eligibility.reason}", messages.WARNING)

    # ---- 离职继承: WeCom's list of resigned staff's customers awaiting a new owner ----------------------------

    def unassigned_view(self, request):
        if not self.has_transfer_permission(request):
            raise PermissionDenied
        step = request.POST.get("step", "") if request.method == "POST" else ""
        if step == "refresh":
            try:
                count = unassigned_refresh()
            except WeComError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, _("%(count)s customers await a new owner.") % {"count": count})
            return HttpResponseRedirect(reverse("admin:customers_customertransfer_unassigned"))
        listing = unassigned_contacts(handover_userid=request.GET.get("handover", ""))
        form = TakeoverForm(request.POST if step else None)
        if step and form.is_valid():
            chosen = set(request.POST.getlist("item"))
            picked = [row for row in listing.rows if f"{row.contact.pk}:{row.handover_userid}" in chosen]
            if not picked:
                self.message_user(request, _("Choose at least one customer to transfer."), messages.ERROR)
            elif step == "confirm":
                return self._unassigned_confirm(request, picked, form.cleaned_data["takeover"])
            else:
                return self._unassigned_review(request, picked, form.cleaned_data["takeover"])
        context = self._context(request, listing=listing, form=form, title=_("Unassigned customers of resigned staff"))
        return TemplateResponse(request, f"{TEMPLATES}/unassigned.html", context)

    def _by_handover(self, picked):
        employees = Employee.objects.in_bulk({row.handover_userid for row in picked}, field_name="userid")
        groups = defaultdict(list)
        for row in picked:
            groups[employees[row.handover_userid]].append(row.contact)
        return groups

    def _unassigned_review(self, request, picked, takeover):
        rows = []
        for handover, contacts in self._by_handover(picked).items():
            eligibility = transfer_eligibility(contacts=contacts, kind=Kind.RESIGNED, handover=handover)
            rows += [(item, handover) for item in eligibility]
        hidden = [("takeover", str(takeover.pk))]
        hidden += [("item", f"{row.contact.pk}:{row.handover_userid}") for row in picked]
        return self._confirm_page(request, rows, hidden, takeover, Kind.RESIGNED)

    def _unassigned_confirm(self, request, picked, takeover):
        results = []
        for handover, contacts in self._by_handover(picked).items():
            try:
                results.append(
                    customers_transfer(
                        contacts=contacts, handover=handover, takeover=takeover, kind=Kind.RESIGNED, actor=request.user
                    )
                )
            except ValidationError as exc:
                self.message_user(request, f"{handover}: {'; '.join(exc.messages)}", messages.ERROR)
        self._report(request, results)
        return HttpResponseRedirect(reverse("admin:customers_customertransfer_changelist"))


class AlertStateFilter(admin.SimpleListFilter):
    """Open alerts by default: they are the ones someone must act on."""

    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", _("open")), ("resolved", _("resolved")), ("all", _("all"))]

    def choices(self, changelist):
        current = self.value() or "open"
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or "open"
        if value == "open":
            return queryset.filter(resolved_at__isnull=True)
        if value == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(CustomerAlert)
class CustomerAlertAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "customer", "employee", "message", "notified_at", "resolved_at"]
    list_filter = [AlertStateFilter, "kind"]
    list_select_related = ["customer", "employee"]
    search_fields = ["message", "customer__name"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["mark_resolved"]

    def get_queryset(self, request):
        return of_visible_customers(super().get_queryset(request), user=request.user)

    @admin.action(description=_("Mark resolved"), permissions=["resolve"])
    def mark_resolved(self, request, queryset):
        count = alerts_resolve(alert_ids=list(queryset.values_list("pk", flat=True)), actor=request.user)
        self.message_user(request, _("%(count)s alerts marked resolved.") % {"count": count})

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("customers.change_customeralert")
