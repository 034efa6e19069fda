"""Admin for tag groups and tags. Corp and system ones are created, renamed, reordered and deleted here through
``tagging.services.taxonomy`` (WeCom's rules checked, audited, corp edits pushed to WeCom after commit); personal
tags, deleted rows and corp tags this app may not change (see ``check_editable``) are shown read-only, with the
reason. The changelists show each row's sync state and error, the corp-tag quota (used / 3,000), and a "push
again" action for what WeCom refused."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from scrm.core.admin_base import ReadOnlyTabularInline
from tagging.models import MAX_CORP_TAGS, SyncState, Tag, TagGroup, TagKind
from tagging.selectors import corp_tags_used
from tagging.services.taxonomy import (
    check_editable,
    tag_create,
    tag_delete,
    tag_group_create,
    tag_group_delete,
    tag_group_update,
    tag_update,
)
from tagging.services.taxonomy_push import taxonomy_push_again

SYNC_FIELDS = [
    "sync_state",
    "sync_error",
    "sync_attempts",
    "local_changed_at",
    "wecom_changed_at",
    "created_here",
    "wecom_created_at",
    "deleted",
]


class _ServiceForm(forms.ModelForm):
    """Runs the admin's service call once as a rehearsal, rolled back, so that the service's refusals (WeCom's
    rules) show on the form's fields; ``save_model`` then makes the call for real."""

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                with transaction.atomic():
                    self.write(cleaned, actor=None)
                    transaction.set_rollback(True)  # audit rows and the after-commit push go with it
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned

    def write(self, data: dict, *, actor) -> Tag | TagGroup:
        raise NotImplementedError


class TagGroupForm(_ServiceForm):
    class Meta:
        model = TagGroup
        fields = ["name", "kind", "target", "order"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "kind" in self.fields:  # personal tags come from WeCom only
            self.fields["kind"].choices = [(k, label) for k, label in TagKind.choices if k != TagKind.PERSONAL]

    def write(self, data: dict, *, actor) -> TagGroup:
        if self.instance.pk is None:
            return tag_group_create(**data, actor=actor)
        return tag_group_update(group=self.instance, name=data["name"], order=data["order"], actor=actor)


class TagForm(_ServiceForm):
    class Meta:
        model = Tag
        fields = ["group", "name", "order"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "group" in self.fields:  # a new tag goes into a live group of ours
            self.fields["group"].queryset = TagGroup.objects.live().exclude(kind=TagKind.PERSONAL)
            self.fields["group"].required = True

    def write(self, data: dict, *, actor) -> Tag:
        if self.instance.pk is None:
            return tag_create(group=data["group"], name=data["name"], order=data["order"], actor=actor)
        return tag_update(tag=self.instance, name=data["name"], order=data["order"], actor=actor)


class _TaxonomyAdmin(admin.ModelAdmin):
    """What tag groups and tags share: writes through the services, read-only where they refuse, push again."""

    actions = ["push_again"]
    change_list_template = "admin/tagging/taxonomy_change_list.html"

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [*self.wecom_fields, *self.fixed_after_add, "read_only_because", *SYNC_FIELDS]

    def get_fields(self, request, obj=None):
        if obj is None:
            return self.form._meta.fields
        fields = [*self.wecom_fields, *self.form._meta.fields, *SYNC_FIELDS]
        return fields if self._refusal(obj) is None else [*fields, "read_only_because"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deleting goes through the service, one row at a time
        return actions

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or self._refusal(obj) is None)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or self._refusal(obj) is None)

    def save_model(self, request, obj, form, change):
        saved = form.write(form.cleaned_data, actor=request.user)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def changelist_view(self, request, extra_context=None):
        quota = {"corp_tags_used": f"{corp_tags_used():,}", "corp_tags_max": f"{MAX_CORP_TAGS:,}"}
        extra = {**quota, **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    @admin.display(description=_("read-only because"))
    def read_only_because(self, obj) -> str:
        return self._refusal(obj) or "—"

    @staticmethod
    def _refusal(obj) -> str | None:
        try:
            check_editable(obj)
        except ValidationError as exc:
            return " ".join(exc.messages)
        return None

    @admin.action(description=_("Push the selected corp tags to WeCom again"), permissions=["change"])
    def push_again(self, request, queryset):
        refused = queryset.filter(kind=TagKind.CORP, sync_state__in=[SyncState.FAILED, SyncState.PENDING])
        queued = taxonomy_push_again(nodes=list(refused), actor=request.user)
        level = messages.SUCCESS if queued else messages.WARNING
        self.message_user(
            request,
            gettext("%(count)d queued for WeCom; rows in sync, local, or already on their way are left alone.")
            % {"count": queued},
            level,
        )


class TagInline(ReadOnlyTabularInline):
    model = Tag
    fields = ["tag_id", "name", "order", "deleted", "sync_state", "sync_error"]


@admin.register(TagGroup)
class TagGroupAdmin(_TaxonomyAdmin):
    form = TagGroupForm
    wecom_fields = ["group_id"]
    fixed_after_add = ["kind", "target"]
    list_display = ["__str__", "kind", "target", "order", "sync_state", "sync_error", "deleted", "group_id"]
    list_filter = ["kind", "target", "sync_state", "deleted"]
    search_fields = ["group_id", "name"]
    inlines = [TagInline]

    def delete_model(self, request, obj):
        tag_group_delete(group=obj, actor=request.user)


@admin.register(Tag)
class TagAdmin(_TaxonomyAdmin):
    form = TagForm
    wecom_fields = ["tag_id"]
    fixed_after_add = ["group"]
    list_display = ["__str__", "group", "kind", "order", "sync_state", "sync_error", "deleted", "tag_id"]
    list_filter = ["kind", "sync_state", "deleted", "group"]
    list_select_related = ["group"]
    search_fields = ["tag_id", "name", "group__name", "group__group_id"]

    def delete_model(self, request, obj):
        tag_delete(tag=obj, actor=request.user)
