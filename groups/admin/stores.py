"""Admin for stores (location routing): the list by city with each store's group live code and a map link, open
and close actions, the form validated by the service (coordinates named by field), and the CSV import — all or
nothing, every error by row and column. The list links to the public router's QR code. Every write goes through
``groups.services.stores`` (validated, audited)."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import construct_instance
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from groups.models import GroupCode, Store
from groups.qr import public_url
from groups.services.stores import (
    EDITABLE_FIELDS,
    GCJ02,
    WGS84,
    coordinate,
    store_create,
    store_delete,
    store_set_open,
    store_update,
    store_validate,
)
from groups.services.stores_import import COLUMN_LABELS, COLUMNS, MAX_ROWS, StoreImportError, stores_import_csv

TEMPLATES = "admin/groups/store"
COORDINATES_HELP = _(
    "WGS-84 degrees, as GPS and browsers report them. Coordinates picked on Amap or Tencent maps are GCJ-02, a few "
    "hundred metres off: import them with the GCJ-02 option, which converts them."
)


class StoreForm(forms.ModelForm):
    # any precision (maps give 14 decimals): the service rounds to the model's 6
    latitude = forms.DecimalField(label=_("latitude"), help_text=COORDINATES_HELP)
    longitude = forms.DecimalField(label=_("longitude"), help_text=COORDINATES_HELP)

    class Meta:
        model = Store
        fields = list(EDITABLE_FIELDS)

    def clean_latitude(self):
        return self._coordinate("latitude")

    def clean_longitude(self):
        return self._coordinate("longitude")

    def _coordinate(self, name: str):
        try:
            return coordinate(self.cleaned_data[name], field=name)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict[name]) from None

    def _post_clean(self) -> None:
        # The service's validation instead of the model form's: the same model checks, and the (city, name) key on
        # the name field rather than as a form-wide "already exists"
        try:
            self.instance = construct_instance(self, self.instance, self._meta.fields, self._meta.exclude)
        except ValidationError as exc:
            self._update_errors(exc)
            return
        if not self.errors:
            try:
                store_validate(store=self.instance)
            except ValidationError as exc:
                self._update_errors(exc)


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("file"),
        help_text=_("CSV (UTF-8 or GB18030); row 1 names the columns."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt"}),
    )
    coordinate_system = forms.ChoiceField(
        label=_("coordinates"),
        choices=[(WGS84, _("WGS-84 (GPS, browsers)")), (GCJ02, _("GCJ-02 (Amap, Tencent maps): convert"))],
        initial=WGS84,
    )


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    form = StoreForm
    list_display = ["name", "city", "address", "is_open", "code_link", "takes_visitors", "map_link"]
    list_filter = ["city", "is_open", "group_code__status"]
    list_select_related = ["group_code"]
    search_fields = ["name", "city", "address", "group_code__name", "group_code__state"]
    readonly_fields = ["map_link", "created_at", "updated_at"]
    actions = ["open_stores", "close_stores"]
    change_list_template = f"{TEMPLATES}/change_list.html"

    def get_fields(self, request, obj=None):
        return [*EDITABLE_FIELDS, *(self.readonly_fields if obj is not None else [])]

    def get_urls(self):
        page = path("import/", self.admin_site.admin_view(self.import_view), name="groups_store_import")
        return [page, *super().get_urls()]

    def has_import_permission(self, request) -> bool:
        return request.user.has_perms(["groups.add_store", "groups.change_store"])

    def changelist_view(self, request, extra_context=None):
        extra = {
            "may_import": self.has_import_permission(request),
            "router_url": public_url(reverse("groups-stores-nearest"), request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=extra)

    # ---- columns -----------------------------------------------------------------------------------------------

    @admin.display(description=_("group live code"), ordering="group_code__name")
    def code_link(self, store: Store):
        code = store.group_code
        if code is None:
            return "—"
        label = f"{code.name} ({code.get_status_display()})"
        try:
            return format_html('<a href="{}">{}</a>', reverse("admin:groups_groupcode_change", args=[code.pk]), label)
        except NoReverseMatch:  # the group code admin is not installed
            return label

    @admin.display(description=_("takes visitors"), boolean=True)
    def takes_visitors(self, store: Store) -> bool:
        return bool(store.is_open and store.group_code and store.group_code.status == GroupCode.Status.OPEN)

    @admin.display(description=_("map"))
    def map_link(self, store: Store):
        if store.latitude is None or store.longitude is None:
            return "—"
        # Amap's marker page takes WGS-84 when told so (coordinate=wgs84), and opens in WeCom and WeChat on phones
        query = urlencode(
            {
                "position": f"{store.longitude},{store.latitude}",
                "name": store.name,
                "coordinate": "wgs84",
                "src": "scrm",
            }
        )
        return format_html(
            '<a href="https://uri.amap.com/marker?{}" target="_blank" rel="noopener noreferrer">{}</a>',
            query,
            gettext("map"),
        )

    # ---- writes go through the services ------------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        values = {name: getattr(obj, name) for name in EDITABLE_FIELDS}  # as the form's validation normalised them
        if not change:
            created = store_create(actor=request.user, **values)
            obj.pk, obj.created_at, obj.updated_at = created.pk, created.created_at, created.updated_at
            return
        store_update(store=Store.objects.get(pk=obj.pk), actor=request.user, **values)

    def delete_model(self, request, obj):
        store_delete(store=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for store in queryset:
            store_delete(store=store, actor=request.user)

    def _set_open(self, request, queryset, is_open: bool) -> int:
        return sum(store_set_open(store=store, is_open=is_open, actor=request.user) for store in queryset)

    @admin.action(description=_("Open the selected stores"), permissions=["change"])
    def open_stores(self, request, queryset):
        count = self._set_open(request, queryset, True)
        self.message_user(
            request, ngettext("%(count)s store opened.", "%(count)s stores opened.", count) % {"count": count}
        )

    @admin.action(description=_("Close the selected stores (no more visitors)"), permissions=["change"])
    def close_stores(self, request, queryset):
        count = self._set_open(request, queryset, False)
        self.message_user(
            request, ngettext("%(count)s store closed.", "%(count)s stores closed.", count) % {"count": count}
        )

    # ---- CSV import --------------------------------------------------------------------------------------------

    def import_view(self, request):
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        errors = []
        if request.method == "POST" and form.is_valid():
            try:
                result = stores_import_csv(
                    data=form.cleaned_data["file"].read(),
                    actor=request.user,
                    coordinate_system=form.cleaned_data["coordinate_system"],
                )
            except StoreImportError as exc:
                errors = exc.errors
                form.add_error("file", str(exc.message))
            else:
                messages.success(
                    request,
                    gettext("Stores imported: %(created)d new, %(updated)d updated, %(unchanged)d unchanged.")
                    % {"created": result.created, "updated": result.updated, "unchanged": result.unchanged},
                )
                return HttpResponseRedirect(reverse("admin:groups_store_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Import stores"),
            "form": form,
            "errors": errors,
            "max_rows": MAX_ROWS,
            "columns": [(COLUMN_LABELS[column], names) for column, names in COLUMNS.items()],
        }
        return TemplateResponse(request, f"{TEMPLATES}/import.html", context)
