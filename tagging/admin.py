"""Admin for corp tags. WeCom owns them (callbacks and the sync write them through services), so they are
read-only here; creating and editing tags in WeCom comes with the two-way tag sync."""

from django.contrib import admin

from tagging.models import Tag, TagGroup


class TagInline(admin.TabularInline):
    model = Tag
    fields = ["tag_id", "name", "order", "deleted", "wecom_created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class WeComOwnedAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TagGroup)
class TagGroupAdmin(WeComOwnedAdmin):
    list_display = ["__str__", "group_id", "order", "deleted", "wecom_created_at"]
    list_filter = ["deleted"]
    search_fields = ["group_id", "name"]
    inlines = [TagInline]


@admin.register(Tag)
class TagAdmin(WeComOwnedAdmin):
    list_display = ["__str__", "tag_id", "group", "order", "deleted", "wecom_created_at"]
    list_filter = ["deleted", "group"]
    list_select_related = ["group"]
    search_fields = ["tag_id", "name", "group__name", "group__group_id"]
