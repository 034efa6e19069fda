"""Admin for corp tags. WeCom owns them (callbacks and the sync write them through services), so they are
read-only here; creating and editing tags in WeCom comes with the two-way tag sync."""

from django.contrib import admin

from scrm.core.admin_base import ReadOnlyAdmin, ReadOnlyTabularInline
from tagging.models import Tag, TagGroup


class TagInline(ReadOnlyTabularInline):
    model = Tag
    fields = ["tag_id", "name", "order", "deleted", "wecom_created_at"]


@admin.register(TagGroup)
class TagGroupAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "group_id", "order", "deleted", "wecom_created_at"]
    list_filter = ["deleted"]
    search_fields = ["group_id", "name"]
    inlines = [TagInline]


@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "tag_id", "group", "order", "deleted", "wecom_created_at"]
    list_filter = ["deleted", "group"]
    list_select_related = ["group"]
    search_fields = ["tag_id", "name", "group__name", "group__group_id"]
