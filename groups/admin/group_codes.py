"""Admin for group live codes (群活码): ops set up a code with its groups in order, the members per group before
it moves on, automatic group creation, tags for joiners and the group welcome message. The change page shows the
permanent QR (ours: a preview and PNG/SVG downloads, the URL it encodes), WeCom's current QR behind it, each
group's member count and whether it is full, and where the code stands with WeCom (the error in plain words).
Actions: push to WeCom again, pause, resume. Every write goes through ``groups.services.group_codes``
(validated, audited, sent to WeCom after commit).

Groups do not import tagging (tagging reads groups): the tag choice is the channel codes admin's, built from the
app registry.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from groups.admin.channel_codes import TagsField, customer_tags
from groups.models import CustomerGroup, GroupCode, GroupCodeGroup, WeComSync
from groups.public.group_codes import group_code_public_url, group_code_qr_response
from groups.services.group_codes import (
    EDITABLE_FIELDS,
    group_code_create,
    group_code_delete,
    group_code_groups_validate,
    group_code_pause,
    group_code_push_again,
    group_code_resume,
    group_code_update,
    group_code_validate,
    new_state,
)


class GroupCodeForm(forms.ModelForm):
    tag_ids = TagsField(
        label=_("tags on join"),
        queryset=None,
        required=False,
        widget=admin.widgets.FilteredSelectMultiple(_("tags"), is_stacked=False),
        help_text=_("Put on every customer who joins a group through this code."),
    )

    class Meta:
        model = GroupCode
        fields = list(EDITABLE_FIELDS)
        help_texts = {
            "state": _("At most 30 characters; generated when left blank. WeCom reports it on each joiner."),
            "threshold": _("When a group reaches this many members the code moves on to the next one (at most 200)."),
            "room_base_name": _(
                "When every group is full WeCom creates the next one, named this and a number (at most 40 characters)."
            ),
            "welcome_text": _("Sent in the group to each joiner; %NICKNAME% becomes their nickname."),
            "welcome_attachments": _(
                'At most one WeCom attachment, e.g. [{"msgtype": "image", "image": {"media_id": "…"}}].'
            ),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tag_ids"].queryset = customer_tags()
        for name in ("state", "room_base_name", "welcome_attachments"):
            if name in self.fields:  # a view-only user's form has none of them
                self.fields[name].required = False

    def clean_state(self) -> str:
        state = (self.cleaned_data.get("state") or "").strip()
        if state:
            return state
        return self.instance.state if self.instance.pk else new_state()

    def clean_tag_ids(self) -> list[int]:
        return sorted(tag.pk for tag in self.cleaned_data.get("tag_ids") or [])

    def clean_welcome_attachments(self):
        return self.cleaned_data.get("welcome_attachments") or []

    def _get_validation_exclusions(self):
        # The service checks these with messages on their fields (tag_ids may be empty; the threshold's CHECK).
        return {*super()._get_validation_exclusions(), "tag_ids", "threshold"}

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return
        if self.instance.auto_create_room and not self.instance.room_base_name:
            self.instance.room_base_name = self.cleaned_data["room_base_name"] = self.instance.name[:40]
        try:  # the service's own checks (state unique, threshold, welcome, tags through tagging), on their fields
            group_code_validate(code=self.instance)
        except ValidationError as exc:
            self._update_errors(exc)


class GroupsFormSet(forms.BaseInlineFormSet):
    def groups(self) -> list:
        """The groups in the order given by their positions (ties: as listed)."""
        rows = [
            (form.cleaned_data.get("position") or 0, n, form.cleaned_data["group"])
            for n, form in enumerate(self.forms)
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("group")
        ]
        return [group for _position, _n, group in sorted(rows, key=lambda row: row[:2])]

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        try:
            group_code_groups_validate(groups=self.groups(), code=self.instance if self.instance.pk else None)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["groups"]) from exc

    def validate_unique(self) -> None:
        pass  # group_code_groups_validate names a group listed twice


class GroupCodeGroupInline(admin.TabularInline):
    model = GroupCodeGroup
    formset = GroupsFormSet
    fields = ["group", "position", "members", "full_at", "auto_created"]
    readonly_fields = ["members", "full_at", "auto_created"]
    autocomplete_fields = ["group"]
    ordering = ["position", "id"]
    extra = 1
    verbose_name_plural = _("groups, filled in this order")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("group")

    @admin.display(description=_("members"))
    def members(self, row: GroupCodeGroup) -> str:
        if not row.pk:
            return "—"
        text = str(row.group.member_count)
        if row.group.status != CustomerGroup.Status.NORMAL:
            return format_html("{} ({})", text, row.group.get_status_display())
        return text


@admin.register(GroupCode)
class GroupCodeAdmin(admin.ModelAdmin):
    form = GroupCodeForm
    inlines = [GroupCodeGroupInline]
    list_display = ["name", "state", "status", "groups_with_room", "threshold", "wecom_status", "updated_at"]
    list_filter = ["status", "wecom_sync", "auto_create_room"]
    search_fields = ["name", "state", "remark", "code_groups__group__chat_id", "code_groups__group__name"]
    readonly_fields = [
        "permanent_qr",
        "wecom_qr",
        "status",
        "alerted_at",
        "wecom_status",
        "wecom_error",
        "config_id",
        "wecom_chat_ids",
        "welcome_template_id",
        "created_by",
        "created_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "state", "threshold", "tag_ids", "remark"]}),
        (_("When every group is full"), {"fields": ["auto_create_room", "room_base_name", "room_base_id"]}),
        (_("Group welcome message"), {"fields": ["welcome_text", "welcome_attachments"]}),
        (_("QR codes"), {"fields": ["permanent_qr", "wecom_qr"]}),
        (
            _("WeCom"),
            {"fields": ["status", "alerted_at", "wecom_status", "wecom_error", "config_id", "wecom_chat_ids"]},
        ),
        (_("Record"), {"fields": ["welcome_template_id", "created_by", "created_at"]}),
    ]
    actions = ["push_again", "pause_codes", "resume_codes"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by").prefetch_related("code_groups")

    def get_fieldsets(self, request, obj=None):
        return self.fieldsets if obj is not None else self.fieldsets[:3]

    def get_object(self, request, object_id, from_field=None):
        code = super().get_object(request, object_id, from_field)
        if code is not None:  # the QR preview needs the request for the absolute URL it encodes
            code.admin_request = request
        return code

    # ---- QR downloads ----------------------------------------------------------------------------------------

    def get_urls(self):
        qr = self.admin_site.admin_view(self.qr_view)
        return [
            path("<path:object_id>/qr.<str:kind>", qr, name="groups_groupcode_qr"),
            *super().get_urls(),
        ]

    def qr_view(self, request, object_id, kind):
        code = get_object_or_404(GroupCode, pk=object_id)
        if kind not in ("png", "svg"):
            raise PermissionDenied
        if not self.has_view_permission(request, code):
            raise PermissionDenied
        response = group_code_qr_response(code, request=request, kind=kind)
        if request.GET.get("inline"):
            del response["Content-Disposition"]
        return response

    # ---- columns ---------------------------------------------------------------------------------------------

    @admin.display(description=_("groups with room"))
    def groups_with_room(self, code: GroupCode) -> str:
        rows = code.code_groups.all()
        return f"{sum(row.full_at is None for row in rows)} / {len(rows)}"

    @admin.display(description=_("WeCom sync"), ordering="wecom_sync")
    def wecom_status(self, code: GroupCode) -> str:
        if code.wecom_sync == WeComSync.FAILED:
            return format_html('<span style="color:#ba2121">{}</span>', code.get_wecom_sync_display())
        return code.get_wecom_sync_display()

    @admin.display(description=_("permanent QR code (print this one)"))
    def permanent_qr(self, code: GroupCode) -> str:
        request = getattr(code, "admin_request", None)
        if not code.pk or request is None:
            return "—"
        url = reverse("admin:groups_groupcode_qr", args=[code.pk, "svg"])
        png = reverse("admin:groups_groupcode_qr", args=[code.pk, "png"])
        return format_html(
            '<img src="{}?inline=1" width="180" height="180" alt=""><br>{}<br>{}',
            url,
            group_code_public_url(code, request),
            format_html_join(" · ", '<a href="{}">{}</a>', [(png, gettext("PNG")), (url, gettext("SVG"))]),
        )

    @admin.display(description=_("WeCom's QR code behind it now"))
    def wecom_qr(self, code: GroupCode) -> str:
        if not code.qr_code_url:
            return "—"
        return format_html(
            '<a href="{0}" target="_blank" rel="noopener"><img src="{0}" width="120" alt=""></a>', code.qr_code_url
        )

    # ---- warnings --------------------------------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        code = GroupCode.objects.filter(pk=object_id).first()
        if code is not None and request.method == "GET":
            if code.status == GroupCode.Status.FULL:
                message = gettext(
                    "Every group of this code is full and no new group is created automatically: add a group, "
                    "or turn on automatic group creation."
                )
                self.message_user(request, message, messages.WARNING)
            if code.wecom_sync == WeComSync.FAILED:
                self.message_user(request, code.wecom_error, messages.ERROR)
        return super().change_view(request, object_id, form_url, extra_context)

    # ---- writes go through the services ----------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        pass  # the code and its groups are written together, by the service, in save_related

    def save_related(self, request, form, formsets, change):
        groups = next(fs for fs in formsets if isinstance(fs, GroupsFormSet)).groups()
        for formset in formsets:  # what the change message reads; the service writes the rows
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        values = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS if name in form.cleaned_data}
        if change:
            group_code_update(code=form.instance, actor=request.user, groups=groups, **values)
        else:
            code = group_code_create(actor=request.user, groups=groups, **values)
            form.instance.pk = code.pk

    def delete_model(self, request, obj):
        group_code_delete(code=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for code in queryset:
            group_code_delete(code=code, actor=request.user)

    # ---- actions ---------------------------------------------------------------------------------------------

    @admin.action(description=_("Push the selected codes to WeCom again"), permissions=["change"])
    def push_again(self, request, queryset):
        codes = list(queryset)
        for code in codes:
            group_code_push_again(code=code, actor=request.user)
        message = ngettext(
            "%(count)s code is being sent to WeCom.", "%(count)s codes are being sent to WeCom.", len(codes)
        )
        self.message_user(request, message % {"count": len(codes)})

    @admin.action(description=_("Pause the selected codes (nobody joins until resumed)"), permissions=["change"])
    def pause_codes(self, request, queryset):
        paused = sum(group_code_pause(code=code, actor=request.user) for code in queryset)
        message = ngettext("%(count)s code paused.", "%(count)s codes paused.", paused)
        self.message_user(request, message % {"count": paused})

    @admin.action(description=_("Resume the selected codes"), permissions=["change"])
    def resume_codes(self, request, queryset):
        resumed = sum(group_code_resume(code=code, actor=request.user) for code in queryset)
        message = ngettext("%(count)s code resumed.", "%(count)s codes resumed.", resumed)
        self.message_user(request, message % {"count": resumed})
