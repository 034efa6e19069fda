"""Admin for bots (托管账号) and the groups they run.

Bots: the list shows each bot's groups, limit and utilization (a bar; over its limit in red); the change page
lists its groups read-only. Every write goes through ``groups.services.bots`` (the cap kept by the database,
audited): the form refuses a capacity above the setting or below the groups the bot runs, and an unknown userid;
deleting a bot that runs groups is refused with a message. Actions: assign unassigned groups to a bot (a page to
pick them, then the bot's free slots decide — all or none), release all groups of bots (confirmed), and the
rebalance proposal (a page of moves to tick and apply).

Bot groups: every assignment, filterable by bot; actions release the selected groups (confirmed) or move them to
another bot (a form to pick it). A refusal is a message saying why; nothing changes.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import construct_instance
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from groups.models import Bot, BotGroup, CustomerGroup
from groups.selectors.bots import bot_rebalance_proposal, bots_with_utilization, groups_unassigned
from groups.services.bots import (
    bot_create,
    bot_delete,
    bot_groups_assign,
    bot_groups_move,
    bot_groups_release,
    bot_rebalance_apply,
    bot_update,
    bot_validate,
)
from scrm.core.admin_base import ReadOnlyAdmin, ReadOnlyTabularInline

TEMPLATES = "admin/groups/bot"
SHOWN_CANDIDATES = 200  # unassigned groups listed on the assign page; a search narrows the rest


def refused(request, exc: ValidationError, prefix: str = "") -> None:
    messages.error(request, prefix + " ".join(exc.messages))


class BotChoiceField(forms.ModelChoiceField):
    """Bots labelled with their load, so the choice shows where there is room."""

    def label_from_instance(self, bot: Bot) -> str:
        return gettext("%(bot)s — %(count)d of %(limit)d groups, %(free)d free") % {
            "bot": bot,
            "count": bot.group_count,
            "limit": bot.limit,
            "free": max(bot.limit - bot.group_count, 0),
        }


def active_bot_field(**kwargs) -> BotChoiceField:
    # not annotated: the annotations would freeze the setting's value when this module is imported
    return BotChoiceField(queryset=Bot.objects.filter(is_active=True).order_by("userid"), label=_("bot"), **kwargs)


class BotForm(forms.ModelForm):
    class Meta:
        model = Bot
        fields = ["userid", "name", "capacity", "is_active", "note"]

    def _post_clean(self) -> None:
        # The service's checks instead of the model's alone: a capacity left as it was stays valid after the
        # setting is lowered, and the userid must be an employee we know.
        fields = [name for name in self.fields if name in BotForm.Meta.fields]
        before = {name: getattr(self.instance, name) for name in fields}
        try:
            self.instance = construct_instance(self, self.instance, self._meta.fields, self._meta.exclude)
        except ValidationError as exc:
            self._update_errors(exc)
            return
        # compared with the row, not the form's initial data (capacity's callable default hides its initial)
        changed = None if self.instance._state.adding else [n for n in fields if getattr(self.instance, n) != before[n]]
        try:
            bot_validate(bot=self.instance, changed=changed)
        except ValidationError as exc:
            self._update_errors(exc)


class BotGroupInline(ReadOnlyTabularInline):
    model = BotGroup
    fields = ["group", "owner", "members", "status", "assigned_at", "assigned_by"]
    verbose_name_plural = _("groups it runs")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("group", "assigned_by")

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a bot's groups change only through the services (the actions and pages below)

    @admin.display(description=_("owner userid"))
    def owner(self, row: BotGroup) -> str:
        return row.group.owner_userid

    @admin.display(description=_("member count"))
    def members(self, row: BotGroup) -> int:
        return row.group.member_count

    @admin.display(description=_("status"))
    def status(self, row: BotGroup) -> str:
        return row.group.get_status_display()


def utilization_bar(bot: Bot) -> str:
    limit = getattr(bot, "limit_now", None) or bot.limit
    percent = round(bot.group_count * 100 / limit) if limit else 100
    bar = format_html('<progress value="{}" max="{}"></progress> {}%', min(bot.group_count, limit), limit, percent)
    if bot.group_count > limit:
        return format_html('{} <strong style="color:#ba2121">{}</strong>', bar, gettext("over its limit"))
    return bar


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    form = BotForm
    list_display = ["__str__", "is_active", "group_count", "limit_shown", "free_shown", "utilization_shown"]
    list_filter = ["is_active"]
    search_fields = ["userid", "name", "note"]
    readonly_fields = ["group_count", "limit_shown", "utilization_shown", "created_at", "updated_at"]
    inlines = [BotGroupInline]
    actions = ["assign_groups", "release_all_groups", "show_rebalance", "delete_bots"]
    change_list_template = f"{TEMPLATES}/change_list.html"

    def get_queryset(self, request):
        return bots_with_utilization()

    def get_urls(self):
        return [
            path("assign/", self.admin_site.admin_view(self.assign_view), name="groups_bot_assign"),
            path("rebalance/", self.admin_site.admin_view(self.rebalance_view), name="groups_bot_rebalance"),
            *super().get_urls(),
        ]

    def get_fieldsets(self, request, obj=None):
        main = (None, {"fields": ["userid", "name", "capacity", "is_active", "note"]})
        if obj is None:
            return [main]
        return [main, (_("Load"), {"fields": self.readonly_fields})]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deleting goes through the service, which refuses busy bots
        return actions

    def changelist_view(self, request, extra_context=None):
        extra = {"may_change": self.has_change_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    @admin.display(description=_("limit"), ordering="limit_now")
    def limit_shown(self, bot: Bot) -> int:
        return getattr(bot, "limit_now", bot.limit)

    @admin.display(description=_("free slots"), ordering="free")
    def free_shown(self, bot: Bot) -> int:
        return getattr(bot, "free", max(bot.limit - bot.group_count, 0))

    @admin.display(description=_("utilization"), ordering="utilization_ratio")
    def utilization_shown(self, bot: Bot) -> str:
        return utilization_bar(bot)

    # ---- writes go through the services ------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in BotForm.Meta.fields if name in form.cleaned_data}
        if not change:
            created = bot_create(actor=request.user, **values)
            obj.pk, obj.group_count, obj.created_at = created.pk, created.group_count, created.created_at
            return
        bot_update(bot=Bot.objects.get(pk=obj.pk), actor=request.user, **values)

    def delete_view(self, request, object_id, extra_context=None):
        bot = self.get_object(request, object_id)
        if bot is not None and bot.group_count:  # the service would refuse: say so before asking to confirm
            message = ngettext(
                "This bot runs %(count)d group: release or move it before deleting the bot.",
                "This bot runs %(count)d groups: release or move them before deleting the bot.",
                bot.group_count,
            )
            messages.error(request, message % {"count": bot.group_count})
            return HttpResponseRedirect(reverse("admin:groups_bot_change", args=[bot.pk]))
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        bot_delete(bot=obj, actor=request.user)

    # ---- actions ---------------------------------------------------------------------------------------------

    @admin.action(description=_("Assign unassigned groups to the selected bot…"), permissions=["change"])
    def assign_groups(self, request, queryset):
        bots = list(queryset[:2])
        if len(bots) != 1:
            self.message_user(request, gettext("Select exactly one bot to assign groups to."), messages.ERROR)
            return None
        return HttpResponseRedirect(f"{reverse('admin:groups_bot_assign')}?{urlencode({'bot': bots[0].pk})}")

    @admin.action(description=_("Release all groups of the selected bots"), permissions=["change"])
    def release_all_groups(self, request, queryset):
        bots = [bot for bot in queryset if bot.group_count]
        if not bots:
            self.message_user(request, gettext("The selected bots run no groups."), messages.WARNING)
            return None
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Release the groups of these bots"),
                "bots": bots,
                "action_name": "release_all_groups",
            }
            return TemplateResponse(request, f"{TEMPLATES}/release_confirm.html", context)
        released = 0
        for bot in bots:
            group_ids = list(BotGroup.objects.filter(bot=bot).values_list("group_id", flat=True))
            if group_ids:
                released += bot_groups_release(bot=bot, group_ids=group_ids, actor=request.user)
        message = ngettext("%(count)d group released.", "%(count)d groups released.", released)
        self.message_user(request, message % {"count": released})
        return None

    @admin.action(description=_("Show the rebalance proposal"), permissions=["view"])
    def show_rebalance(self, request, queryset):
        return HttpResponseRedirect(reverse("admin:groups_bot_rebalance"))

    @admin.action(description=_("Delete the selected bots"), permissions=["delete"])
    def delete_bots(self, request, queryset):
        deleted = 0
        for bot in queryset:
            try:
                bot_delete(bot=bot, actor=request.user)
            except ValidationError as exc:
                refused(request, exc, f"{bot}: ")
            else:
                deleted += 1
        if deleted:
            self.message_user(
                request, ngettext("%(count)d bot deleted.", "%(count)d bots deleted.", deleted) % {"count": deleted}
            )

    # ---- pages -----------------------------------------------------------------------------------------------

    def assign_view(self, request):
        """Unassigned groups (searchable) to tick, a bot to give them to; the bot's free slots decide, all or
        none. ``?bot=`` preselects the bot, ``?groups=1,2`` ticks groups (from an action elsewhere)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        query = request.GET.get("q", "").strip()
        if request.method == "POST":
            form = AssignForm(request.POST)
            ticked = _ints(request.POST.getlist("groups"))
            if form.is_valid():
                bot = form.cleaned_data["bot"]
                try:
                    assigned = bot_groups_assign(bot=bot, group_ids=ticked, actor=request.user)
                except ValidationError as exc:
                    refused(request, exc)
                else:
                    message = ngettext(
                        "%(count)d group assigned to %(bot)s.", "%(count)d groups assigned to %(bot)s.", assigned
                    )
                    messages.success(request, message % {"count": assigned, "bot": bot})
                    return HttpResponseRedirect(reverse("admin:groups_bot_change", args=[bot.pk]))
        else:
            form = AssignForm(initial={"bot": request.GET.get("bot")})
            ticked = _ints(request.GET.get("groups", "").split(","))
        candidates = groups_unassigned(search=query)
        shown = list(candidates[:SHOWN_CANDIDATES])
        missing = set(ticked) - {g.pk for g in shown}
        if missing:  # ticked groups beyond the first page stay in view
            shown = list(CustomerGroup.objects.filter(pk__in=missing).order_by("-created_at")) + shown
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Assign groups to a bot"),
            "form": form,
            "query": query,
            "candidates": shown,
            "ticked": set(ticked),
            "total": candidates.count(),
            "limit": SHOWN_CANDIDATES,
        }
        return TemplateResponse(request, f"{TEMPLATES}/assign.html", context)

    def rebalance_view(self, request):
        """The proposal, every move ticked; applying the ticked ones moves them, all or none."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        may_apply = self.has_change_permission(request)
        if request.method == "POST":
            if not may_apply:
                raise PermissionDenied
            moves = [_move(value) for value in request.POST.getlist("moves")]
            moves = [move for move in moves if move]
            try:
                moved = bot_rebalance_apply(moves=moves, actor=request.user)
            except ValidationError as exc:
                refused(request, exc)
            else:
                message = ngettext("%(count)d group moved.", "%(count)d groups moved.", moved)
                messages.success(request, message % {"count": moved})
                return HttpResponseRedirect(reverse("admin:groups_bot_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Rebalance bots"),
            "moves": bot_rebalance_proposal(),
            "bots": bots_with_utilization(),
            "may_apply": may_apply,
        }
        return TemplateResponse(request, f"{TEMPLATES}/rebalance.html", context)


class AssignForm(forms.Form):
    bot = active_bot_field()


class MoveForm(forms.Form):
    to_bot = active_bot_field(help_text=_("The groups move only if all of them fit in its free slots."))


@admin.register(BotGroup)
class BotGroupAdmin(ReadOnlyAdmin):
    list_display = ["group", "owner", "members", "bot", "assigned_at", "assigned_by"]
    list_filter = ["bot"]
    list_select_related = ["group", "bot", "assigned_by"]
    search_fields = ["group__name", "group__chat_id", "group__owner_userid", "bot__userid", "bot__name"]
    date_hierarchy = "assigned_at"
    actions = ["release_groups", "move_groups"]

    def has_manage_permission(self, request) -> bool:
        return request.user.has_perm("groups.change_bot")

    @admin.display(description=_("owner userid"), ordering="group__owner_userid")
    def owner(self, row: BotGroup) -> str:
        return row.group.owner_userid

    @admin.display(description=_("member count"), ordering="group__member_count")
    def members(self, row: BotGroup) -> int:
        return row.group.member_count

    @admin.action(description=_("Release the selected groups from their bots"), permissions=["manage"])
    def release_groups(self, request, queryset):
        rows = list(queryset.select_related("group", "bot"))
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Release groups from their bots"),
                "rows": rows,
                "action_name": "release_groups",
            }
            return TemplateResponse(request, f"{TEMPLATES}/group_release_confirm.html", context)
        released = bot_groups_release(group_ids=[row.group_id for row in rows], actor=request.user)
        self.message_user(
            request, ngettext("%(count)d group released.", "%(count)d groups released.", released) % {"count": released}
        )
        return None

    @admin.action(description=_("Move the selected groups to another bot…"), permissions=["manage"])
    def move_groups(self, request, queryset):
        rows = list(queryset.select_related("group", "bot"))
        form = MoveForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if form.is_bound and form.is_valid():
            to_bot = form.cleaned_data["to_bot"]
            try:
                moved = bot_groups_move(group_ids=[row.group_id for row in rows], to_bot=to_bot, actor=request.user)
            except ValidationError as exc:
                refused(request, exc)
            else:
                message = ngettext("%(count)d group moved to %(bot)s.", "%(count)d groups moved to %(bot)s.", moved)
                self.message_user(request, message % {"count": moved, "bot": to_bot})
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Move groups to another bot"),
            "rows": rows,
            "form": form,
            "action_name": "move_groups",
            "checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, f"{TEMPLATES}/group_move.html", context)


def _ints(values) -> list[int]:
    return [int(value) for value in values if str(value).strip().isdigit()]


def _move(value: str) -> dict[str, int] | None:
    """A ticked move, ``group:to_bot:from_bot``."""
    parts = value.split(":")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None
    return {"group_id": int(parts[0]), "to_bot_id": int(parts[1]), "from_bot_id": int(parts[2])}
