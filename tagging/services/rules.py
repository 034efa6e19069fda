"""Auto-tagging rules (自动打标签): editing them, the customers each condition matches, a preview of what enabling a
rule would change, and the two ways rules are applied.

Each condition is one SQL set of customers (``rule_customers``), never a Python loop over customers. A rule is
applied by diffing that set against who carries its tag: customers in the set without the tag gain it; for state
conditions (``STATE_KINDS``), customers the rule tagged who left the set lose it again — only those, as
``customer_tags_change(only_rule=True)`` never takes off a tag a person or WeCom put on. Two paths apply rules:

- ``rule_evaluate``: one rule over every customer, in chunks (when enabled, on demand, and nightly, which is what
  moves idle customers in and out, as time alone changes no row);
- ``rules_evaluate_customers``: the enabled rules of some kinds over the customers a hook named (see
  ``tagging.hooks_rules``), right after the change.

A rule is created disabled and enabled only through ``rule_enable`` once its preview has been seen; changing the
condition of an enabled rule disables it, so that no condition ever takes effect unpreviewed.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from customers.models import Customer, ExternalContact, Lifecycle, OpportunityStage, TimelineEntry
from customers.selectors import customers_visible_to
from groups.models import CustomerGroup, GroupMember
from scrm.core.services import acting_user, audit_record
from tagging.models import CustomerTag, RuleKind, Source, Tag, TagRule, TagTarget
from tagging.services.assignments import CHUNK, customer_tags_change, tags_for

logger = logging.getLogger(__name__)

SAMPLE_SIZE = 10
EDITABLE_FIELDS = ("name", "tag", "kind", "value")
CONDITION_FIELDS = ("tag", "kind", "value")
# The enabled rules as {kind: [values]}, read by the hook subscribers on every callback and sync page. Dropped
# after each commit that changes a rule; the expiry only bounds a reader that cached the state just before it.
ENABLED_CACHE_KEY = "tagging:rules:enabled"
ENABLED_CACHE_SECONDS = 60


# ---- which customers a condition matches -------------------------------------------------------------------------


def rule_customers(*, rule: TagRule, at=None) -> QuerySet[Customer]:
    """The customers for whom the rule's condition holds (at ``at``, default now: idle days count from it)."""
    kind, value = rule.kind, rule.value
    customers = Customer.objects.all()
    if kind == RuleKind.CHANNEL_CODE:
        # any status: having been added through the code is the fact, whatever became of the relation
        return customers.filter(
            pk__in=ExternalContact.objects.filter(follow_relations__state=value).values("customer_id")
        )
    if kind == RuleKind.CHAT_KEYWORD:
        # the hook passes ``content or summary``: the same text here
        said = Q(content__icontains=value) | Q(content="", summary__icontains=value)
        entries = TimelineEntry.objects.filter(said, kind=TimelineEntry.Kind.WECOM_CHAT)
        return customers.filter(pk__in=entries.values("customer_id"))
    if kind == RuleKind.SPEND_AT_LEAST:
        return customers.filter(total_spend__gte=Decimal(value))
    if kind == RuleKind.IDLE_DAYS:
        # Coalesce(last_contact_at, created_at) < cutoff, spelt so that the last-contact index serves it
        cutoff = (at or timezone.now()) - timedelta(days=int(value))
        return customers.filter(Q(last_contact_at__lt=cutoff) | Q(last_contact_at__isnull=True, created_at__lt=cutoff))
    if kind == RuleKind.GROUP_MEMBER:
        groups = CustomerGroup.objects.filter(Q(chat_id=value) | Q(name=value), status=CustomerGroup.Status.NORMAL)
        members = GroupMember.objects.current().filter(group__in=groups).values("member_id")
        return customers.filter(
            pk__in=ExternalContact.objects.filter(external_userid__in=members).values("customer_id")
        )
    if kind == RuleKind.LIFECYCLE_STAGE:
        return customers.filter(lifecycle_stage=value)
    if kind == RuleKind.OPPORTUNITY_STAGE:
        return customers.filter(opportunity_stage__name=value)
    raise ValueError(f"unknown rule kind {kind!r}")


def keyword_said(*, keyword: str, text: str) -> bool:
    """The event-side twin of the chat-keyword query (case-insensitive, as ``icontains``)."""
    return keyword.casefold() in (text or "").casefold()


def _gaining(rule: TagRule, customers: QuerySet[Customer]) -> QuerySet[Customer]:
    return customers.exclude(tag_ids__has_all=[rule.tag_id])


def _losing(rule: TagRule, matching: QuerySet[Customer]) -> QuerySet[CustomerTag]:
    """The rule's own assignments of its tag on customers the condition no longer matches (state kinds only)."""
    if not rule.removes_tag:
        return CustomerTag.objects.none()
    # an anti-join (NOT EXISTS), which PostgreSQL plans well at any size, unlike NOT IN over a large subquery
    return CustomerTag.objects.filter(rule=rule, tag_id=rule.tag_id).exclude(
        Exists(matching.filter(pk=OuterRef("customer_id")))
    )


# ---- editing rules ------------------------------------------------------------------------------------------------


def rule_create(*, name: str, tag: Tag, kind: str, value: str, actor) -> TagRule:
    """A new rule, disabled: it changes nothing until ``rule_enable``."""
    rule = TagRule(name=name, tag=tag, kind=kind, value=value, enabled=False, created_by=acting_user(actor))
    rule_validate(rule=rule)
    with transaction.atomic():
        rule.save()
        audit_record(actor=actor, action="create", target=rule, changes=_described(rule))
        transaction.on_commit(_forget_enabled)
    return rule


def rule_update(*, rule: TagRule, actor, **values: Any) -> list[str]:
    """Change the fields in ``EDITABLE_FIELDS``; returns the names that changed. Changing the condition (tag,
    kind, value) of an enabled rule disables it: enable it again after looking at its preview."""
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: _("This field cannot be changed here.") for name in sorted(unknown)})
    with transaction.atomic():
        locked = TagRule.objects.select_for_update(of=("self",)).select_related("tag").get(pk=rule.pk)
        before = {name: getattr(locked, name) for name in EDITABLE_FIELDS}
        for name, value in values.items():
            setattr(locked, name, value)
        rule_validate(rule=locked)
        changes = {name: [before[name], getattr(locked, name)] for name in EDITABLE_FIELDS}
        changes = {name: pair for name, pair in changes.items() if pair[0] != pair[1]}
        if not changes:
            return []
        fields = list(changes)
        if locked.enabled and set(changes) & set(CONDITION_FIELDS):
            locked.enabled = False
            changes["enabled"] = [True, False]
            fields.append("enabled")
        locked.save(update_fields=[*fields, "updated_at"])
        audit_record(actor=actor, action="update", target=locked, changes=changes)
        transaction.on_commit(_forget_enabled)
    for name in fields:
        setattr(rule, name, getattr(locked, name))
    return list(changes)


def rule_delete(*, rule: TagRule, actor) -> None:
    """Delete the rule. The tags it put on stay (their ``rule`` becomes empty): deleting a rule is not untagging."""
    with transaction.atomic():
        locked = TagRule.objects.select_for_update().get(pk=rule.pk)
        audit_record(actor=actor, action="delete", target=locked, changes=_described(locked))
        locked.delete()
        transaction.on_commit(_forget_enabled)


def rule_enable(*, rule: TagRule, actor) -> bool:
    """Enable the rule (returns False when it already was); its first evaluation runs in a task after commit."""
    from tagging.tasks.rules import rule_evaluate as rule_evaluate_task

    with transaction.atomic():
        locked = TagRule.objects.select_for_update(of=("self",)).select_related("tag").get(pk=rule.pk)
        if locked.enabled:
            return False
        rule_validate(rule=locked)  # the tag may have been deleted, or the stage renamed, since the rule was saved
        locked.enabled = True
        locked.save(update_fields=["enabled", "updated_at"])
        audit_record(actor=actor, action="enable", target=locked, changes={"enabled": [False, True]})
        transaction.on_commit(_forget_enabled)
        transaction.on_commit(lambda: rule_evaluate_task.delay(locked.pk))
    rule.enabled = True
    return True


def rule_disable(*, rule: TagRule, actor) -> bool:
    """Stop applying the rule (returns False when it already was disabled). The tags it put on stay."""
    with transaction.atomic():
        if not TagRule.objects.filter(pk=rule.pk, enabled=True).update(enabled=False, updated_at=timezone.now()):
            return False
        audit_record(actor=actor, action="disable", target=rule, changes={"enabled": [True, False]})
        transaction.on_commit(_forget_enabled)
    rule.enabled = False
    return True


def rule_evaluate_request(*, rule: TagRule, actor) -> None:
    """Staff ask for an enabled rule to be evaluated again now (in a task, after commit)."""
    from tagging.tasks.rules import rule_evaluate as rule_evaluate_task

    if not TagRule.objects.filter(pk=rule.pk, enabled=True).exists():
        raise ValidationError({"enabled": _("Enable the rule before evaluating it.")})
    with transaction.atomic():
        audit_record(actor=actor, action="evaluate", target=rule)
        transaction.on_commit(lambda: rule_evaluate_task.delay(rule.pk))


def rule_validate(*, rule: TagRule) -> None:
    """The model's own checks, then those that need the database, each naming its field; normalises the value (a
    lifecycle stage given by its label is stored as its value). The services call it; so does the admin form."""
    rule.full_clean()
    _check_tag(rule)
    stored_tag_id = TagRule.objects.filter(pk=rule.pk).values_list("tag_id", flat=True).first() if rule.pk else None
    if stored_tag_id and stored_tag_id != rule.tag_id and CustomerTag.objects.filter(rule=rule).exists():
        raise ValidationError(
            {
                "tag": _("This rule has already tagged customers with “%(tag)s”: create another rule for another tag.")
                % {"tag": Tag.objects.get(pk=stored_tag_id)}
            }
        )
    rule.value = _checked_value(rule.kind, rule.value)


def _check_tag(rule: TagRule) -> None:
    """The tag must be one a rule may put on customers (live, for customers, not an employee's personal tag)."""
    try:
        tags_for(target=TagTarget.CUSTOMER, tag_ids=[rule.tag_id], adding=True, source=Source.RULE)
    except ValidationError as exc:
        raise ValidationError({"tag": exc.message_dict["tags"]}) from None


def _checked_value(kind: str, value: str) -> str:
    if kind == RuleKind.LIFECYCLE_STAGE:
        return _lifecycle_value(value)
    if kind == RuleKind.OPPORTUNITY_STAGE and not OpportunityStage.objects.filter(name=value).exists():
        raise ValidationError({"value": _("No opportunity stage is named “%(value)s”.") % {"value": value}})
    if kind == RuleKind.GROUP_MEMBER and not CustomerGroup.objects.filter(chat_id=value).exists():
        named = CustomerGroup.objects.filter(name=value).count()
        if named == 0:
            raise ValidationError(
                {"value": _("No customer group has the chat id or the name “%(value)s”.") % {"value": value}}
            )
        if named > 1:
            raise ValidationError(
                {
                    "value": _("%(count)d groups are named “%(value)s”: enter the chat id.")
                    % {"count": named, "value": value}
                }
            )
    return value


def _lifecycle_value(given: str) -> str:
    """``conversion``, ``转化``, ``Conversion`` or the whole label ``Conversion (转化)`` all mean ``conversion``,
    whichever language is active (zh-hans labels the stage 转化 alone)."""
    wanted = given.strip().casefold()
    for stage in Lifecycle:
        with translation.override("en"):
            english_label = str(stage.label)
        english, _sep, chinese = english_label.partition(" (")
        names = {stage.value, english_label, english, chinese.rstrip(")"), str(stage.label)}
        if wanted in {name.casefold() for name in names}:
            return stage.value
    choices = "、".join(str(stage.label) for stage in Lifecycle)
    raise ValidationError(
        {
            "value": _("“%(value)s” is not a lifecycle stage: choose one of %(names)s.")
            % {"value": given, "names": choices}
        }
    )


def _described(rule: TagRule) -> dict[str, Any]:
    return {"name": rule.name, "tag": str(rule.tag), "kind": rule.kind, "value": rule.value, "enabled": rule.enabled}


# ---- the enabled rules, cached for the hooks ---------------------------------------------------------------------


def rules_enabled() -> dict[str, list[str]]:
    """The enabled rules' values by kind (kinds without one absent): the hooks skip their work on an empty kind."""
    enabled = cache.get(ENABLED_CACHE_KEY)
    if enabled is None:
        enabled = {}
        for kind, value in TagRule.objects.filter(enabled=True).order_by("pk").values_list("kind", "value"):
            enabled.setdefault(kind, []).append(value)
        cache.set(ENABLED_CACHE_KEY, enabled, ENABLED_CACHE_SECONDS)
    return enabled


def _forget_enabled() -> None:
    cache.delete(ENABLED_CACHE_KEY)


# ---- preview and evaluation ---------------------------------------------------------------------------------------


def rule_preview(*, rule: TagRule, user=None) -> dict[str, Any]:
    """What evaluating the rule now would do: ``gain`` customers would get the tag, ``lose`` would lose it (the
    rule's own assignments whose condition no longer holds; state kinds only), and up to ten of the gaining
    customers as ``sample_gain``. Given a ``user``, the sample only shows customers that user may see."""
    matching = rule_customers(rule=rule)
    gaining = _gaining(rule, matching)
    sample = gaining if user is None else gaining.filter(pk__in=customers_visible_to(user=user).values("pk"))
    return {
        "gain": gaining.count(),
        "lose": _losing(rule, matching).count(),
        "sample_gain": [
            {"id": customer.pk, "name": str(customer)}
            for customer in sample.order_by("pk").only("pk", "name", "phone")[:SAMPLE_SIZE]
        ],
    }


def rule_evaluate(*, rule: TagRule, chunk_size: int = CHUNK) -> tuple[int, int]:
    """Apply an enabled rule to every customer; returns (customers tagged, customers untagged) and records them
    on the rule. Chunks of ``chunk_size`` customers, each its own transaction; running it again changes nothing."""
    if not rule.enabled:
        raise ValidationError({"enabled": _("Enable the rule before evaluating it.")})
    _check_tag(rule)
    at = timezone.now()
    matching = rule_customers(rule=rule, at=at)
    added = _apply_in_chunks(rule, _gaining(rule, matching), "pk", add=True, size=chunk_size)
    removed = _apply_in_chunks(rule, _losing(rule, matching), "customer_id", add=False, size=chunk_size)
    TagRule.objects.filter(pk=rule.pk).update(last_run_at=at, last_added=added, last_removed=removed)
    rule.last_run_at, rule.last_added, rule.last_removed = at, added, removed
    logger.info("tagging rule %s evaluated: %s added, %s removed", rule.pk, added, removed)
    return added, removed


def _apply_in_chunks(rule: TagRule, rows: QuerySet, field: str, *, add: bool, size: int) -> int:
    """Tag (or untag) the customers whose id is ``field`` of ``rows``, in id order, a chunk at a time: memory stays
    flat at a million customers, and each chunk is read after the last id (what earlier chunks changed has left
    the set by then, so an offset would skip customers)."""
    changed, after = 0, 0
    ids = rows.values_list(field, flat=True).order_by(field)
    while chunk := list(ids.filter(**{f"{field}__gt": after})[:size]):
        changes = customer_tags_change(
            customer_ids=chunk,
            add=[rule.tag_id] if add else [],
            remove=[] if add else [rule.tag_id],
            source=Source.RULE,
            rule=rule,
            only_rule=True,
        )
        changed += len(changes.changed_ids)
        after = chunk[-1]
    return changed


def rules_evaluate_customers(
    *, customer_ids: list[int], kinds: list[str], text: str | None = None
) -> dict[int, tuple[int, int]]:
    """The event path: apply the enabled rules of ``kinds`` to these customers only; returns rule id → (tagged,
    untagged). With ``text`` (a chat message just recorded), keyword rules look at that text, not the timeline."""
    ids = sorted(set(customer_ids))
    results: dict[int, tuple[int, int]] = {}
    if not ids:
        return results
    rules = TagRule.objects.filter(enabled=True, kind__in=kinds, tag__deleted=False).select_related("tag")
    for rule in rules.order_by("pk"):
        if rule.kind == RuleKind.CHAT_KEYWORD and text is not None:
            gaining = ids if keyword_said(keyword=rule.value, text=text) else []
            losing: list[int] = []
        else:
            matching = rule_customers(rule=rule).filter(pk__in=ids)
            gaining = list(_gaining(rule, matching).values_list("pk", flat=True))
            losing = list(_losing(rule, matching).filter(customer_id__in=ids).values_list("customer_id", flat=True))
        added = removed = 0
        if gaining:
            changes = customer_tags_change(customer_ids=gaining, add=[rule.tag_id], source=Source.RULE, rule=rule)
            added = len(changes.changed_ids)
        if losing:
            changes = customer_tags_change(
                customer_ids=losing, remove=[rule.tag_id], source=Source.RULE, rule=rule, only_rule=True
            )
            removed = len(changes.changed_ids)
        results[rule.pk] = (added, removed)
    return results


def rules_evaluate_all() -> list[int]:
    """The nightly batch: one evaluation task per enabled rule (each with its own time limit); returns their ids."""
    from tagging.tasks.rules import rule_evaluate as rule_evaluate_task

    rule_ids = list(TagRule.objects.filter(enabled=True).order_by("pk").values_list("pk", flat=True))
    for rule_id in rule_ids:
        rule_evaluate_task.delay(rule_id)
    return rule_ids
