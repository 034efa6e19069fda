"""Bots (托管账号) and the groups they run: creating and editing bots, assigning groups to them, releasing and
moving groups, and applying a rebalance.

The cap (a bot runs at most ``min(capacity, SOP_MAX_GROUPS_PER_BOT)`` groups) is kept by the database, never by
a count read first: slots are taken by ONE conditional UPDATE (``group_count = group_count + n WHERE
group_count + n <= LEAST(capacity, cap)``) in the transaction that inserts the ``BotGroup`` rows, so concurrent
assignments queue on the bot's row lock and the late ones find no slot. A batch takes all its slots or none.
Releasing and moving give slots back in the same transaction that deletes or re-points the rows.

Locks are always taken in one order — the groups (by id), then their ``BotGroup`` rows, then bots (by id) — so
two services (or a dismissal callback) touching the same rows wait for each other instead of deadlocking.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, IntegerField, Value
from django.db.models.functions import Least
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from customers.selectors import employee_userids_known
from groups.models import Bot, BotGroup, CustomerGroup
from scrm.core.services import acting_user, audit_record

EDITABLE_FIELDS = ("userid", "name", "capacity", "is_active", "note")
MAX_NAMED = 10  # groups named in a refusal; the rest are counted


# ---- bots -----------------------------------------------------------------------------------------------------


def bot_validate(*, bot: Bot, changed: Iterable[str] | None = None) -> None:
    """The model's checks (capacity within the setting and not below the groups it runs, one bot per userid) and
    that the userid is an employee we know. ``changed`` names the fields an edit changes: a capacity left as it
    was is not refused because the setting was lowered since (the bot's limit follows the setting anyway), and
    the userid is looked up only when it is new. The services call it; so does the admin form."""
    changed = set(EDITABLE_FIELDS if changed is None else changed)
    errors: dict[str, list] = {}
    exclude = []
    if isinstance(bot.capacity, int) and bot.capacity < 1:  # the CHECK constraint's message would name no field
        errors["capacity"] = [ValidationError(_("A bot runs at least one group."))]
        exclude = ["capacity"]
    try:
        bot.full_clean(exclude=exclude)
    except ValidationError as exc:
        errors = {**exc.error_dict, **errors}
        if "capacity" not in changed:
            errors.pop("capacity", None)
    if (
        "userid" in changed
        and "userid" not in errors
        and bot.userid not in employee_userids_known(userids=[bot.userid])
    ):
        errors["userid"] = [
            ValidationError(
                _("No employee has the userid %(userid)s: sync the WeCom directory, or check the spelling.")
                % {"userid": bot.userid}
            )
        ]
    if errors:
        raise ValidationError(errors)


def bot_create(
    *,
    userid: str,
    actor,
    name: str = "",
    capacity: int | None = None,
    is_active: bool = True,
    note: str = "",
) -> Bot:
    """A new bot running no groups; ``capacity`` defaults to the setting."""
    bot = Bot(userid=(userid or "").strip(), name=name, is_active=is_active, note=note)
    if capacity is not None:
        bot.capacity = capacity
    bot_validate(bot=bot)
    try:
        with transaction.atomic():
            bot.save(force_insert=True)
            audit_record(actor=actor, action="create", target=bot, changes=_described(bot))
    except IntegrityError as exc:  # another request made a bot for this userid since the check
        raise ValidationError({"userid": _("This employee already is a bot.")}) from exc
    return bot


def bot_update(*, bot: Bot, actor, **values: Any) -> list[str]:
    """Change the fields in ``EDITABLE_FIELDS``; returns the names that changed. The bot's row is locked, so a
    capacity is checked against the groups it runs at that moment and no assignment slips in between."""
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: _("This field cannot be changed here.") for name in sorted(unknown)})
    if isinstance(values.get("userid"), str):
        values["userid"] = values["userid"].strip()
    try:
        with transaction.atomic():
            locked = Bot.objects.select_for_update().get(pk=bot.pk)
            changes = {
                name: [getattr(locked, name), value] for name, value in values.items() if getattr(locked, name) != value
            }
            if not changes:
                return []
            for name, (_before, after) in changes.items():
                setattr(locked, name, after)
            bot_validate(bot=locked, changed=changes)
            locked.save(update_fields=[*changes, "updated_at"])
            audit_record(actor=actor, action="update", target=locked, changes=changes)
    except IntegrityError as exc:
        raise ValidationError({"userid": _("This employee already is a bot.")}) from exc
    for name in (*changes, "group_count", "updated_at"):
        setattr(bot, name, getattr(locked, name))
    return list(changes)


def bot_delete(*, bot: Bot, actor) -> None:
    """Delete a bot that runs no groups (release or move them first)."""
    with transaction.atomic():
        locked = Bot.objects.select_for_update().filter(pk=bot.pk).first()
        if locked is None:
            return
        if locked.group_count or BotGroup.objects.filter(bot_id=locked.pk).exists():
            raise ValidationError(
                {
                    "groups": ngettext(
                        "This bot runs %(count)d group: release or move it before deleting the bot.",
                        "This bot runs %(count)d groups: release or move them before deleting the bot.",
                        locked.group_count,
                    )
                    % {"count": locked.group_count}
                }
            )
        audit_record(actor=actor, action="delete", target=locked, changes=_described(locked))
        locked.delete()


# ---- the groups a bot runs ----------------------------------------------------------------------------------------


def bot_groups_assign(*, bot: Bot, group_ids: Iterable[int], actor) -> int:
    """Assign these groups to ``bot``; returns how many were newly assigned (those it already runs are left as
    they are). All or nothing: an unknown or dismissed group, a group another bot runs (move it instead), or a
    batch larger than the bot's free slots refuses the whole call, naming ``group_ids``."""
    ids = _group_ids(group_ids)
    with _constraint_refusal(), transaction.atomic():
        groups = _lock_groups(ids)
        dismissed = [g for g in groups if g.status != CustomerGroup.Status.NORMAL]
        if dismissed:
            raise ValidationError({"group_ids": _("Dismissed groups cannot be assigned: %s.") % _names(dismissed)})
        current = {a.group_id: a for a in BotGroup.objects.filter(group_id__in=ids).select_related("bot")}
        elsewhere = [g for g in groups if g.pk in current and current[g.pk].bot_id != bot.pk]
        if elsewhere:
            raise ValidationError(
                {
                    "group_ids": _("Already run by another bot (move them instead): %s.")
                    % _names(elsewhere, lambda g: f"{g} ({current[g.pk].bot})")
                }
            )
        new = [g for g in groups if g.pk not in current]
        if not new:
            return 0
        _take_slots(bot, len(new))
        BotGroup.objects.bulk_create(BotGroup(bot_id=bot.pk, group=g, assigned_by=acting_user(actor)) for g in new)
        audit_record(actor=actor, action="assign_groups", target=bot, changes={"groups": [g.chat_id for g in new]})
    _refresh_count(bot)
    return len(new)


def bot_groups_release(*, group_ids: Iterable[int], actor, bot: Bot | None = None) -> int:
    """Take these groups off the bots that run them; returns how many were released (groups no bot runs are
    left as they are). With ``bot``, only that bot's groups: a group another bot runs refuses the call."""
    ids = _group_ids(group_ids)
    with transaction.atomic():
        groups = _lock_groups(ids)
        if bot is not None:
            others = BotGroup.objects.filter(group_id__in=ids).exclude(bot_id=bot.pk).values_list("group_id", flat=True)
            if others := set(others):
                raise ValidationError(
                    {"group_ids": _("Run by another bot: %s.") % _names([g for g in groups if g.pk in others])}
                )
        released = _release(group_pks=ids, actor=actor)
    if bot is not None:
        _refresh_count(bot)
    return released


def bot_groups_release_dismissed(*, group: CustomerGroup) -> int:
    """A group was dismissed: give its bot its slot back. Called by ``group_dismiss`` inside its transaction,
    with the group's row locked."""
    return _release(group_pks=[group.pk], actor=None)


def bot_groups_move(*, group_ids: Iterable[int], to_bot: Bot, actor, from_bot: Bot | None = None) -> int:
    """Move groups other bots run to ``to_bot``; returns how many moved (those it already runs stay). All or
    nothing: a group no bot runs (assign it instead), one not run by ``from_bot`` when given (a stale proposal),
    or more groups than ``to_bot`` has free slots refuses the call, naming ``group_ids``."""
    ids = _group_ids(group_ids)
    with _constraint_refusal(), transaction.atomic():
        groups = _lock_groups(ids)
        assignments = {
            a.group_id: a
            for a in BotGroup.objects.select_for_update(of=("self",)).filter(group_id__in=ids).select_related("bot")
        }
        unassigned = [g for g in groups if g.pk not in assignments]
        if unassigned:
            raise ValidationError({"group_ids": _("No bot runs these groups (assign them): %s.") % _names(unassigned)})
        if from_bot is not None:
            stale = [g for g in groups if assignments[g.pk].bot_id not in (from_bot.pk, to_bot.pk)]
            if stale:
                raise ValidationError(
                    {
                        "group_ids": _("No longer run by %(bot)s: %(groups)s.")
                        % {"bot": from_bot, "groups": _names(stale)}
                    }
                )
        moving = [assignments[g.pk] for g in groups if assignments[g.pk].bot_id != to_bot.pk]
        if not moving:
            return 0
        leaving = Counter(a.bot_id for a in moving)
        for bot_id in sorted({to_bot.pk, *leaving}):  # bots in id order, as every service locks them
            if bot_id == to_bot.pk:
                _take_slots(to_bot, len(moving))
            else:
                _give_back(bot_id, leaving[bot_id])
        BotGroup.objects.filter(pk__in=[a.pk for a in moving]).update(
            bot_id=to_bot.pk, assigned_at=timezone.now(), assigned_by=acting_user(actor)
        )
        by_source: dict[int, list[BotGroup]] = defaultdict(list)
        for a in moving:
            by_source[a.bot_id].append(a)
        for rows in by_source.values():
            audit_record(
                actor=actor,
                action="move_groups_out",
                target=rows[0].bot,
                changes={"groups": [a.group.chat_id for a in rows], "to": str(to_bot)},
            )
        audit_record(
            actor=actor,
            action="move_groups_in",
            target=to_bot,
            changes={"groups": [a.group.chat_id for a in moving], "from": sorted({str(a.bot) for a in moving})},
        )
    _refresh_count(to_bot)
    return len(moving)


def bot_rebalance_apply(*, moves: Iterable[Mapping[str, Any]], actor) -> int:
    """Apply moves from ``groups.selectors.bot_rebalance_proposal`` (each ``{"group_id", "to_bot_id"}``, and
    ``"from_bot_id"`` to refuse a proposal overtaken by other changes) through ``bot_groups_move``, all in one
    transaction: one refused move refuses them all. Returns how many groups moved."""
    plan: dict[tuple[int, int | None], list[int]] = defaultdict(list)
    for move in _moves(moves):
        plan[(move["to_bot_id"], move.get("from_bot_id"))].append(move["group_id"])
    bot_ids = {to for to, _from in plan} | {source for _to, source in plan if source is not None}
    bots = Bot.objects.in_bulk(bot_ids)
    if missing := sorted(bot_ids - set(bots)):
        raise ValidationError({"moves": _("Unknown bots: %s.") % ", ".join(map(str, missing))})
    moved = 0
    with transaction.atomic():
        _lock_groups(sorted({pk for ids in plan.values() for pk in ids}))  # all at once, in id order
        for (to_bot_id, from_bot_id), group_ids in sorted(plan.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
            try:
                moved += bot_groups_move(
                    group_ids=group_ids,
                    to_bot=bots[to_bot_id],
                    from_bot=bots.get(from_bot_id) if from_bot_id is not None else None,
                    actor=actor,
                )
            except ValidationError as exc:
                raise ValidationError({"moves": exc.messages}) from exc
    return moved


# ---- internals ------------------------------------------------------------------------------------------------


def _take_slots(bot: Bot, count: int) -> None:
    """Take ``count`` slots of an active bot in one conditional UPDATE, or refuse naming ``group_ids``."""
    cap = settings.SOP_MAX_GROUPS_PER_BOT
    fits = LessThanOrEqual(F("group_count") + count, Least(F("capacity"), Value(cap), output_field=IntegerField()))
    if Bot.objects.filter(fits, pk=bot.pk, is_active=True).update(group_count=F("group_count") + count):
        return
    now = Bot.objects.filter(pk=bot.pk).first()
    if now is None:
        raise ValidationError({"bot": _("This bot no longer exists.")})
    if not now.is_active:
        raise ValidationError(
            {"bot": _("Bot %(bot)s is inactive: activate it before giving it groups.") % {"bot": now}}
        )
    free = max(now.limit - now.group_count, 0)
    raise ValidationError(
        {
            "group_ids": ngettext(
                "Bot %(bot)s has %(free)d free slot (it runs %(count)d of at most %(limit)d groups), not enough "
                "for %(asked)d: nothing changed.",
                "Bot %(bot)s has %(free)d free slots (it runs %(count)d of at most %(limit)d groups), not enough "
                "for %(asked)d: nothing changed.",
                free,
            )
            % {"bot": now, "free": free, "count": now.group_count, "limit": now.limit, "asked": count}
        }
    )


def _give_back(bot_id: int, count: int) -> None:
    Bot.objects.filter(pk=bot_id).update(group_count=F("group_count") - count)


def _release(*, group_pks: list[int], actor) -> int:
    """Delete the groups' BotGroup rows and give each bot back its slots (groups already locked by the caller)."""
    assignments = list(
        BotGroup.objects.select_for_update(of=("self",)).filter(group_id__in=group_pks).select_related("bot", "group")
    )
    if not assignments:
        return 0
    by_bot: dict[int, list[BotGroup]] = defaultdict(list)
    for a in assignments:
        by_bot[a.bot_id].append(a)
    BotGroup.objects.filter(pk__in=[a.pk for a in assignments]).delete()
    for bot_id in sorted(by_bot):
        rows = by_bot[bot_id]
        _give_back(bot_id, len(rows))
        audit_record(
            actor=actor,
            action="release_groups",
            target=rows[0].bot,
            changes={"groups": [a.group.chat_id for a in rows]},
        )
    return len(assignments)


def _lock_groups(ids: list[int]) -> list[CustomerGroup]:
    """The groups, locked in id order; an unknown id refuses the call."""
    groups = list(CustomerGroup.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    if missing := sorted(set(ids) - {g.pk for g in groups}):
        raise ValidationError({"group_ids": _("Unknown groups: %s.") % ", ".join(map(str, missing[:MAX_NAMED]))})
    return groups


def _group_ids(group_ids: Iterable[int]) -> list[int]:
    if isinstance(group_ids, str | bytes) or not isinstance(group_ids, Iterable):
        raise ValidationError({"group_ids": _("Give a list of group ids.")})
    ids = []
    for value in group_ids:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise ValidationError({"group_ids": _("Group ids are whole numbers.")}) from None
    if not ids:
        raise ValidationError({"group_ids": _("Choose at least one group.")})
    return sorted(set(ids))


def _moves(moves: Iterable[Mapping[str, Any]]) -> list[dict[str, int]]:
    parsed = []
    for move in moves if isinstance(moves, Iterable) else ():
        try:
            item = {"group_id": int(move["group_id"]), "to_bot_id": int(move["to_bot_id"])}
            if move.get("from_bot_id") is not None:
                item["from_bot_id"] = int(move["from_bot_id"])
        except (KeyError, TypeError, ValueError):
            raise ValidationError({"moves": _("Each move needs a group_id and a to_bot_id.")}) from None
        parsed.append(item)
    if not parsed:
        raise ValidationError({"moves": _("There are no moves to apply.")})
    if len({m["group_id"] for m in parsed}) != len(parsed):
        raise ValidationError({"moves": _("A group can move only once in one rebalance.")})
    return parsed


def _names(groups: list, label=str) -> str:
    names = "、".join(label(g) for g in groups[:MAX_NAMED])
    extra = len(groups) - MAX_NAMED
    return names if extra <= 0 else _("%(names)s and %(count)d more") % {"names": names, "count": extra}


def _refresh_count(bot: Bot) -> None:
    bot.group_count = Bot.objects.filter(pk=bot.pk).values_list("group_count", flat=True).first() or 0


def _described(bot: Bot) -> dict[str, Any]:
    return {name: getattr(bot, name) for name in EDITABLE_FIELDS}


@contextmanager
def _constraint_refusal():
    """The CHECK constraint or the one-bot-per-group key refused a write the checks before it let through (a
    writer that does not lock as the services do): the same kind of refusal as theirs, and nothing written."""
    try:
        yield
    except IntegrityError as exc:
        raise ValidationError(
            {"group_ids": _("Another change to these groups or bots got there first; try again.")}
        ) from exc
