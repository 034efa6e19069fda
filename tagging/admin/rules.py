"""Admin for auto-tagging rules: ops write "customers who <condition> carry <tag>" as rows. A rule is saved
disabled; its change page shows what evaluating it now would do (customers gaining and losing the tag, with a
sample), and the "enable" action shows that preview again for every selected rule and asks to confirm before
anything is tagged. "Disable" and "re-evaluate now" are actions too. Every write goes through
``tagging.services.rules`` (validated, audited; evaluations run in tasks)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from tagging.admin.jobs import TagChoiceField
from tagging.models import TagRule
from tagging.selectors import tags_settable_on_customers
from tagging.services.rules import (
    EDITABLE_FIELDS,
    rule_create,
    rule_delete,
    rule_disable,
    rule_enable,
    rule_evaluate_request,
    rule_preview,
    rule_update,
    rule_validate,
)

VALUE_HELP = _(
    "Channel code: the state of the contact way (≤ 30 characters). Keyword: a word the customer says in a WeCom chat. "
    "Spend: an amount in yuan. Idle: a number of days. Group: its chat id or exact name. Lifecycle stage: its value "
    "or label (转化, conversion). Opportunity stage: its name (谈判)."
)


class TagRuleForm(forms.ModelForm):
    tag = TagChoiceField(
        label=_("tag"),
        queryset=tags_settable_on_customers(),
    )

    class Meta:
        model = TagRule
        fields = ["name", "tag", "kind", "value"]
        help_texts = {"value": VALUE_HELP}

    def _post_clean(self) -> None:
        super()._post_clean()  # the model's own clean, errors on their fields
        if not self.errors:
            try:  # the checks that need the database (stage and group exist, tag kept), on their fields too
                rule_validate(rule=self.instance)
            except ValidationError as exc:
                self._update_errors(exc)


@admin.register(TagRule)
class TagRuleAdmin(admin.ModelAdmin):
    form = TagRuleForm
    list_display = ["name", "tag_label", "kind", "value", "enabled", "last_run_at", "last_added", "last_removed"]
    list_filter = ["enabled", "kind"]
    list_select_related = ["tag__group"]
    search_fields = ["name", "value", "tag__name"]
    readonly_fields = ["enabled", "preview", "last_run_at", "last_added", "last_removed", "created_by", "created_at"]
    fieldsets = [
        (None, {"fields": ["name", "tag", "kind", "value"]}),
        (_("State"), {"fields": readonly_fields}),
    ]
    actions = ["enable_rules", "disable_rules", "evaluate_rules"]

    def get_fieldsets(self, request, obj=None):
        return self.fieldsets if obj is not None else self.fieldsets[:1]

    def get_object(self, request, object_id, from_field=None):
        rule = super().get_object(request, object_id, from_field)
        if rule is not None:  # read by preview, which is not given the request: its sample is what they may see
            rule.previewer = request.user
        return rule

    @admin.display(description=_("tag"), ordering="tag__name")
    def tag_label(self, rule: TagRule) -> str:
        return rule.tag.label

    @admin.display(description=_("preview"))
    def preview(self, rule: TagRule) -> str:
        figures = rule_preview(rule=rule, user=getattr(rule, "previewer", None))
        text = _preview_text(figures)
        if not figures["sample_gain"]:
            return text
        sample = format_html_join(
            "、",
            '<a href="{}">{}</a>',
            (
                (reverse("admin:customers_customer_change", args=[customer["id"]]), customer["name"])
                for customer in figures["sample_gain"]
            ),
        )
        return format_html("{}<br>{} {}", text, gettext("For example:"), sample)

    # ---- writes go through the services ------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        values = {name: getattr(obj, name) for name in EDITABLE_FIELDS}  # as the form's validation normalised them
        if not change:
            created = rule_create(actor=request.user, **values)
            obj.pk, obj.enabled, obj.created_by = created.pk, created.enabled, created.created_by
            return
        changed = rule_update(rule=TagRule.objects.get(pk=obj.pk), actor=request.user, **values)
        if "enabled" in changed:
            obj.enabled = False
            messages.warning(
                request,
                gettext("Its condition changed, so the rule was disabled: check its preview, then enable it again."),
            )

    def delete_model(self, request, obj):
        rule_delete(rule=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            rule_delete(rule=rule, actor=request.user)

    @admin.action(description=_("Enable the selected rules (after their preview)"), permissions=["change"])
    def enable_rules(self, request, queryset):
        rules = list(queryset.filter(enabled=False).select_related("tag__group"))
        if not rules:
            self.message_user(request, gettext("The selected rules are already enabled."), messages.WARNING)
            return None
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Enable tagging rules"),
                "previews": [(rule, _preview_text(rule_preview(rule=rule, user=request.user))) for rule in rules],
                "action_name": "enable_rules",
            }
            return TemplateResponse(request, "admin/tagging/tagrule/enable_confirm.html", context)
        enabled = 0
        for rule in rules:
            try:
                enabled += rule_enable(rule=rule, actor=request.user)
            except ValidationError as exc:  # its tag, stage or group went away since it was saved
                self.message_user(request, f"{rule}: {'; '.join(exc.messages)}", messages.ERROR)
        if enabled:
            message = ngettext(
                "%(count)s rule enabled; its first evaluation is running.",
                "%(count)s rules enabled; their first evaluation is running.",
                enabled,
            )
            self.message_user(request, message % {"count": enabled})
        return None

    @admin.action(description=_("Disable the selected rules (their tags stay)"), permissions=["change"])
    def disable_rules(self, request, queryset):
        disabled = sum(rule_disable(rule=rule, actor=request.user) for rule in queryset)
        message = ngettext("%(count)s rule disabled.", "%(count)s rules disabled.", disabled)
        self.message_user(request, message % {"count": disabled})

    @admin.action(description=_("Re-evaluate the selected rules now"), permissions=["change"])
    def evaluate_rules(self, request, queryset):
        queued = 0
        for rule in queryset:
            try:
                rule_evaluate_request(rule=rule, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, f"{rule}: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                queued += 1
        if queued:
            message = ngettext(
                "%(count)s rule is being evaluated; its figures update when it is done.",
                "%(count)s rules are being evaluated; their figures update when they are done.",
                queued,
            )
            self.message_user(request, message % {"count": queued})


def _preview_text(figures: dict) -> str:
    return gettext("Evaluating now would add the tag to %(gain)s customers and remove it from %(lose)s.") % {
        "gain": figures["gain"],
        "lose": figures["lose"],
    }
