"""Admin for saved segments: the expression checked as it is typed in (the error points at the character), the
live count and the newest 20 members on the segment's page (as the signed-in user may see them, phones masked),
and a recount action. Every write goes through ``tagging.services.segments``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from tagging.models import Segment, TagTarget
from tagging.segments import SegmentError, validate
from tagging.selectors_segments import SAMPLE_SIZE, segment_preview
from tagging.services.segments import segment_count_refresh, segment_create, segment_delete, segment_update


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ["name", "target", "expression"]
        widgets = {"expression": forms.Textarea(attrs={"rows": 3, "cols": 100, "style": "font-family: monospace"})}

    def clean(self):
        data = super().clean()
        expression, target = (data.get("expression") or "").strip(), data.get("target")
        if expression and target:
            try:
                validate(expression, target=target)
            except SegmentError as exc:
                # the message names the position; the pointer shows it under the text (monospace)
                self.add_error("expression", ValidationError(format_html("{}<pre>{}</pre>", exc.message, exc.pointer)))
        return data


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ["name", "target", "expression", "last_count", "counted_at", "created_by"]
    list_filter = ["target"]
    list_select_related = ["created_by"]
    search_fields = ["name", "expression"]
    readonly_fields = ["live_count", "sample", "last_count", "counted_at", "created_by", "created_at"]
    actions = ["recount"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "target", "expression"]
        return ["name", "target", "expression", "live_count", "sample", "last_count", "counted_at", "created_by"]

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:  # the count and sample are the viewer's; read-only fields are not given the request
            obj.viewer = request.user
        return obj

    def preview(self, obj: Segment):
        """Counted once per page view, shared by the two read-only fields that show it."""
        if not hasattr(obj, "_preview"):
            try:
                obj._preview = segment_preview(expression=obj.expression, target=obj.target, user=obj.viewer)
            except SegmentError as exc:
                obj._preview = exc
        return obj._preview

    @admin.display(description=_("members now"))
    def live_count(self, obj: Segment) -> str:
        preview = self.preview(obj)
        if isinstance(preview, SegmentError):
            return format_html('<span class="errornote">{}</span>', preview.message)
        return f"{preview.count:,}"

    @admin.display(description=_("newest members"))
    def sample(self, obj: Segment) -> str:
        preview = self.preview(obj)
        if isinstance(preview, SegmentError) or not preview.sample:
            return "—"
        if obj.target == TagTarget.CUSTOMER:
            may_reveal = obj.viewer.has_perm("customers.view_full_phone")
            rows = (
                (
                    reverse("admin:customers_customer_change", args=[c.pk]),
                    c.name or f"#{c.pk}",
                    _phone(c, may_reveal),
                    c.owner or "—",
                    c.get_lifecycle_stage_display(),
                    c.opportunity_stage or "—",
                    c.total_spend,
                )
                for c in preview.sample
            )
            head = (_("customer"), _("phone"), _("owner"), _("lifecycle"), _("stage"), _("spend"))
        else:
            rows = (
                (
                    reverse("admin:groups_customergroup_change", args=[g.pk]),
                    g.name or g.chat_id,
                    g.chat_id,
                    g.owner_userid or "—",
                    g.member_count,
                    g.get_status_display(),
                    "",
                )
                for g in preview.sample
            )
            head = (_("group"), _("chat id"), _("owner"), _("members"), _("status"), "")
        body = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            rows,
        )
        header = format_html_join("", "<th>{}</th>", ((h,) for h in head))
        caption = gettext("The newest %(n)s") % {"n": SAMPLE_SIZE}
        return format_html("<table><caption>{}</caption><tr>{}</tr>{}</table>", caption, header, body)

    # ---- writes go through the services ------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in ("name", "target", "expression")}
        if change:
            segment_update(segment=Segment.objects.get(pk=obj.pk), actor=request.user, **data)
        else:
            obj.pk = segment_create(actor=request.user, **data).pk

    def delete_model(self, request, obj):
        segment_delete(segment=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for segment in queryset:
            segment_delete(segment=segment, actor=request.user)

    @admin.action(description=_("Count the selected segments again"), permissions=["change"])
    def recount(self, request, queryset):
        counted = 0
        for segment in queryset:
            try:
                segment_count_refresh(segment=segment)
            except ValidationError as exc:
                self.message_user(request, f"{segment}: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                counted += 1
        if counted:
            self.message_user(
                request,
                ngettext("%(n)s segment counted.", "%(n)s segments counted.", counted) % {"n": counted},
            )


def _phone(customer, may_reveal: bool) -> str:
    """Masked; for a user allowed the full number, a link to the customers admin's audited reveal."""
    if not customer.phone:
        return "—"
    if not may_reveal:
        return customer.masked_phone
    url = reverse("admin:customers_customer_phone", args=[customer.pk])
    return format_html(
        '<a href="{}" title="{}">{}</a>', url, gettext("show full number (recorded)"), customer.masked_phone
    )
