"""Admin for channel live codes (渠道活码): ops set up a code with its employees (the rota with daily limits, and
backups), tags, skip-verify and welcome message; they see where it stands with WeCom (error in plain words), its
QR image, and its figures (adds today and in all, retained after 7 days, lost). Actions: push to WeCom again,
deactivate, activate. Every write goes through ``groups.services.channel_codes`` (validated, audited, sent to
WeCom after commit). The adds are read-only, with filters.

Groups do not import tagging (tagging reads groups): the tag choice is built from the app registry.
"""

from __future__ import annotations

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from groups.models import ChannelCode, ChannelCodeAdd, ChannelCodeMember, WeComSync
from groups.selectors.channel_codes import channel_code_rota, channel_codes_full_without_backup, with_figures
from groups.services.channel_codes import (
    EDITABLE_FIELDS,
    channel_code_activate,
    channel_code_create,
    channel_code_deactivate,
    channel_code_delete,
    channel_code_update,
    channel_code_validate,
    channel_codes_push_again,
    member_specs,
    members_validate,
    new_state,
)
from scrm.core.admin_base import ReadOnlyAdmin

FULL_WITHOUT_BACKUP = _(
    "Everyone in the rota has reached today's add limit and there is no backup: they keep taking adds. "
    "Add a backup employee, or raise the limits."
)


def customer_tags():
    """Live corp and system tags that may go on customers (tagging's rule, read through the app registry)."""
    tag = apps.get_model("tagging", "Tag")
    return (
        tag.objects.filter(deleted=False)
        .exclude(kind="personal")
        .filter(Q(group__isnull=True) | Q(group__target="customer", group__deleted=False))
        .select_related("group")
        .order_by("group__name", "name")
    )


class TagsField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.label


class ChannelCodeForm(forms.ModelForm):
    tag_ids = TagsField(
        label=_("tags on add"),
        queryset=None,
        required=False,
        widget=admin.widgets.FilteredSelectMultiple(_("tags"), is_stacked=False),
        help_text=_("Put on every customer who adds an employee through this code."),
    )

    class Meta:
        model = ChannelCode
        fields = list(EDITABLE_FIELDS)
        help_texts = {
            "state": _("At most 30 characters; generated when left blank. WeCom sends it back with every add."),
            "welcome_attachments": _(
                'WeCom attachments, e.g. [{"msgtype": "link", "link": {"title": "…", "url": "https://…"}}] (at most 9).'
            ),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "tag_ids" in self.fields:  # a user who may only view gets a form without fields
            self.fields["tag_ids"].queryset = customer_tags()
        for name in ("state", "welcome_attachments"):
            if name in self.fields:
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
        # The model field refuses an empty list (blank=False), a code may have no tags; and the state's uniqueness
        # is the service's check, with a clearer message. Both are checked in _post_clean.
        return {*super()._get_validation_exclusions(), "tag_ids", "state"}

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return
        check_tags = not self.instance.pk or "tag_ids" in self.changed_data
        try:  # the service's own checks (state unique, attachments, tags through tagging), on their fields
            channel_code_validate(code=self.instance, members=None, check_tags=check_tags)
        except ValidationError as exc:
            self._update_errors(exc)


class MembersFormSet(forms.BaseInlineFormSet):
    def members(self) -> list[dict]:
        return [
            {
                "userid": (form.cleaned_data.get("userid") or "").strip(),
                "role": form.cleaned_data.get("role") or ChannelCodeMember.Role.PRIMARY,
                "daily_limit": form.cleaned_data.get("daily_limit"),
                "position": form.cleaned_data.get("position") or 0,
            }
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        try:
            members_validate(member_specs(self.members()))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["members"]) from exc

    def validate_unique(self) -> None:
        pass  # members_validate names a userid listed twice


class ChannelCodeMemberInline(admin.TabularInline):
    model = ChannelCodeMember
    formset = MembersFormSet
    fields = ["userid", "role", "daily_limit", "position"]
    extra = 1
    verbose_name_plural = _("employees (the rota and its backups)")


@admin.register(ChannelCode)
class ChannelCodeAdmin(admin.ModelAdmin):
    form = ChannelCodeForm
    inlines = [ChannelCodeMemberInline]
    list_display = [
        "name",
        "state",
        "is_active",
        "wecom_status",
        "adds_today",
        "adds_total",
        "retained_7d",
        "lost",
        "qr_link",
    ]
    list_filter = ["is_active", "wecom_sync", "skip_verify"]
    search_fields = ["name", "state", "remark", "members__userid"]
    readonly_fields = [
        "is_active",
        "qr_link",
        "wecom_status",
        "wecom_error",
        "config_id",
        "wecom_users",
        "rota_now",
        "adds_today",
        "adds_total",
        "retained_7d",
        "lost",
        "created_by",
        "created_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "state", "skip_verify", "tag_ids", "remark"]}),
        (_("Welcome message"), {"fields": ["welcome_text", "welcome_attachments"]}),
        (_("WeCom"), {"fields": ["is_active", "qr_link", "wecom_status", "wecom_error", "config_id", "wecom_users"]}),
        (_("Rota and figures"), {"fields": ["rota_now", "adds_today", "adds_total", "retained_7d", "lost"]}),
        (_("Record"), {"fields": ["created_by", "created_at"]}),
    ]
    actions = ["push_again", "deactivate_codes", "activate_codes"]

    def get_queryset(self, request):
        return with_figures(super().get_queryset(request).select_related("created_by"))

    def get_fieldsets(self, request, obj=None):
        return self.fieldsets if obj is not None else self.fieldsets[:2]

    # ---- columns ---------------------------------------------------------------------------------------------

    @admin.display(description=_("WeCom sync"), ordering="wecom_sync")
    def wecom_status(self, code: ChannelCode) -> str:
        if code.wecom_sync == WeComSync.FAILED:
            return format_html('<span style="color:#ba2121">{}</span>', code.get_wecom_sync_display())
        return code.get_wecom_sync_display()

    @admin.display(description=_("QR code image"))
    def qr_link(self, code: ChannelCode) -> str:
        if not code.qr_code_url:
            return "—"
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', code.qr_code_url, gettext("QR code"))

    @admin.display(description=_("adds today"), ordering="adds_today")
    def adds_today(self, code: ChannelCode) -> int:
        return code.adds_today

    @admin.display(description=_("adds in all"), ordering="adds_total")
    def adds_total(self, code: ChannelCode) -> int:
        return code.adds_total

    @admin.display(description=_("retained after 7 days"), ordering="retained_7d")
    def retained_7d(self, code: ChannelCode) -> int:
        return code.retained_7d

    @admin.display(description=_("lost"), ordering="lost")
    def lost(self, code: ChannelCode) -> int:
        return code.lost

    @admin.display(description=_("taking adds now"))
    def rota_now(self, code: ChannelCode) -> str:
        rota = channel_code_rota(code=code)
        text = "、".join(rota.users) or "—"
        if rota.full_without_backup:
            return format_html('{}<br><strong style="color:#ba2121">{}</strong>', text, FULL_WITHOUT_BACKUP)
        if rota.on_backup:
            return format_html("{} ({})", text, gettext("backups: everyone in the rota is at today's limit"))
        if rota.resting:
            return format_html("{} ({})", text, gettext("at today's limit: %s") % "、".join(rota.resting))
        return text

    # ---- warnings --------------------------------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        full = [code.name for code in channel_codes_full_without_backup()]
        if full and request.method == "GET":
            self.message_user(request, f"{'、'.join(full)}: {FULL_WITHOUT_BACKUP}", messages.WARNING)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        code = ChannelCode.objects.filter(pk=object_id).first()
        if code is not None and request.method == "GET":
            if code.is_active and channel_code_rota(code=code).full_without_backup:
                self.message_user(request, FULL_WITHOUT_BACKUP, messages.WARNING)
            if code.wecom_sync == WeComSync.FAILED:
                self.message_user(request, code.wecom_error, messages.ERROR)
        return super().change_view(request, object_id, form_url, extra_context)

    # ---- writes go through the services ----------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        pass  # the code and its employees are written together, by the service, in save_related

    def save_related(self, request, form, formsets, change):
        members = next(fs for fs in formsets if isinstance(fs, MembersFormSet)).members()
        for formset in formsets:  # what the change message reads; the service writes the rows
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        values = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS if name in form.cleaned_data}
        if change:
            channel_code_update(code=form.instance, actor=request.user, members=members, **values)
        else:
            code = channel_code_create(actor=request.user, members=members, **values)
            form.instance.pk = code.pk

    def delete_model(self, request, obj):
        channel_code_delete(code=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for code in queryset:
            channel_code_delete(code=code, actor=request.user)

    # ---- actions ---------------------------------------------------------------------------------------------

    @admin.action(description=_("Push the selected codes to WeCom again"), permissions=["change"])
    def push_again(self, request, queryset):
        queued = channel_codes_push_again(codes=list(queryset), actor=request.user)
        message = ngettext("%(count)s code is being sent to WeCom.", "%(count)s codes are being sent to WeCom.", queued)
        self.message_user(request, message % {"count": queued})

    @admin.action(description=_("Deactivate the selected codes (their QR codes stop working)"), permissions=["change"])
    def deactivate_codes(self, request, queryset):
        stopped = sum(channel_code_deactivate(code=code, actor=request.user) for code in queryset)
        message = ngettext("%(count)s code deactivated.", "%(count)s codes deactivated.", stopped)
        self.message_user(request, message % {"count": stopped})

    @admin.action(description=_("Activate the selected codes (WeCom gives them new QR codes)"), permissions=["change"])
    def activate_codes(self, request, queryset):
        started = sum(channel_code_activate(code=code, actor=request.user) for code in queryset)
        message = ngettext("%(count)s code activated.", "%(count)s codes activated.", started)
        self.message_user(request, message % {"count": started})


@admin.register(ChannelCodeAdd)
class ChannelCodeAddAdmin(ReadOnlyAdmin):
    list_display = ["added_at", "code", "userid", "external_userid", "welcome", "welcome_sent_at", "welcome_error"]
    list_filter = ["welcome", "code", "added_at"]
    list_select_related = ["code"]
    search_fields = ["userid", "external_userid", "code__name", "code__state"]
    date_hierarchy = "added_at"
