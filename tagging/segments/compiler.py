"""From a parsed expression to a ``Q`` over customers or customer groups.

Names are resolved first, each kind in one query for the whole expression (tags, stages, tiers, employees,
groups). Tag terms become lookups on the indexed ``tag_ids`` array, folded so that a run of them costs one index
condition: ``a AND b AND NOT c AND NOT d`` is ``tag_ids @> {a,b} AND NOT tag_ids && {c,d}``, ``a OR b`` is
``tag_ids && {a,b}`` and ``NOT a OR NOT b`` is ``NOT tag_ids @> {a,b}``. Other terms are plain column filters or
``EXISTS`` subqueries (channel, group membership), which PostgreSQL runs as semi- or anti-joins.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Employee, ExternalContact, FollowRelation, MemberTier, OpportunityStage
from customers.models.customer import LIFECYCLE_ORDER, lifecycle_rank
from groups.models import CustomerGroup, GroupMember
from tagging.models import Tag, TagTarget
from tagging.segments.errors import SegmentError
from tagging.segments.fields import CUSTOMER, FIELDS
from tagging.segments.nodes import And, FieldTerm, Node, Not, Or, TagTerm, terms

_COMPARE = {">=": "gte", ">": "gt", "<=": "lte", "<": "lt", "=": "exact", ":": "exact"}


@dataclass
class _Names:
    """What the expression's names resolved to."""

    tags: dict[TagTerm, int] = field(default_factory=dict)
    stages: dict[str, int] = field(default_factory=dict)
    tiers: dict[str, int] = field(default_factory=dict)
    employees: dict[str, int] = field(default_factory=dict)
    groups: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))


def compile_node(node: Node, *, target: str, expression: str) -> Q:
    """The ``Q`` selecting the customers (``target="customer"``) or groups (``"group"``) ``node`` describes.
    Unknown or ambiguous names raise SegmentError at their position (``expression`` is for its pointer)."""
    resolver = _Resolver(target=target, expression=expression)
    names = resolver.resolve(list(terms(node)))
    return _Compiler(target=target, names=names, now=timezone.now()).q(node)


# ---- resolving names --------------------------------------------------------------------------------------------


class _Resolver:
    def __init__(self, *, target: str, expression: str) -> None:
        self.target = target
        self.expression = expression

    def fail(self, message: str, position: int) -> SegmentError:
        return SegmentError(message, position, expression=self.expression)

    def resolve(self, leaves: list[TagTerm | FieldTerm]) -> _Names:
        names = _Names()
        by_field: dict[str, list[FieldTerm]] = defaultdict(list)
        for leaf in leaves:
            if isinstance(leaf, FieldTerm):
                if self.target not in FIELDS[leaf.field].targets:
                    raise self.fail(
                        _("“%(field)s” does not apply to %(target)s (position %(position)s)")
                        % {"field": leaf.field, "target": TagTarget(self.target).label, "position": leaf.position},
                        leaf.position,
                    )
                by_field[leaf.field].append(leaf)
        tag_terms = [leaf for leaf in leaves if isinstance(leaf, TagTerm)]
        if tag_terms:
            names.tags = self.tags(tag_terms)
        if by_field["stage"]:
            names.stages = self.by_name(
                OpportunityStage, by_field["stage"], _("Unknown opportunity stage “%(name)s” at position %(position)s")
            )
        if by_field["tier"]:
            names.tiers = self.by_name(
                MemberTier, by_field["tier"], _("Unknown member tier “%(name)s” at position %(position)s")
            )
        if by_field["owner"]:
            names.employees = self.employees(by_field["owner"])
        if by_field["group"]:
            names.groups = self.groups(by_field["group"])
        return names

    def live_tags(self):
        applies = Q(group__target=self.target, group__deleted=False)
        if self.target == CUSTOMER:  # a placeholder tag (no group yet) is a customer tag, as assignments treat it
            applies |= Q(group__isnull=True)
        return Tag.objects.filter(applies, deleted=False)

    def tags(self, tag_terms: list[TagTerm]) -> dict[TagTerm, int]:
        """Each tag term → its tag, in one query: ``组/标签`` first, else the whole text as a tag name."""
        wanted = set()
        for term in tag_terms:
            wanted.add(term.name)
            wanted |= {part for _group, part in _splits(term.name)}
        found: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for pk, name, group in self.live_tags().filter(name__in=wanted).values_list("pk", "name", "group__name"):
            found[name].append((pk, group or ""))
        resolved = {}
        for term in tag_terms:
            matches = [
                (pk, group)
                for group_name, part in _splits(term.name)
                for pk, group in found[part]
                if group == group_name
            ] or found[term.name]
            if not matches:
                raise self.unknown_tag(term)
            if len(matches) > 1:
                groups = sorted(group for _pk, group in matches)
                raise self.fail(
                    _(
                        "The tag “%(name)s” at position %(position)s is in several tag groups (%(groups)s): "
                        "write %(example)s"
                    )
                    % {
                        "name": term.name,
                        "position": term.position,
                        "groups": ", ".join(groups),
                        "example": f"{groups[0]}/{term.name}",
                    },
                    term.position,
                )
            resolved[term] = matches[0][0]
        return resolved

    def unknown_tag(self, term: TagTerm) -> SegmentError:
        """Only on the way to an error, so the extra queries cost nothing on the normal path."""
        params = {"name": term.name, "position": term.position}
        other = TagTarget.GROUP if self.target == CUSTOMER else TagTarget.CUSTOMER
        if Tag.objects.filter(name=term.name, deleted=False, group__target=other, group__deleted=False).exists():
            return self.fail(
                _("The tag “%(name)s” at position %(position)s applies to %(other)s, not to %(target)s")
                % {**params, "other": other.label, "target": TagTarget(self.target).label},
                term.position,
            )
        # suggest by the tag's own name; write a suggestion as 组/标签 where the name alone would be ambiguous
        # or the user wrote a group (preferring tags of that group)
        typed_group, _slash, typed_name = term.name.rpartition("/")
        labels: dict[str, list[str]] = defaultdict(list)
        for name, group in self.live_tags().values_list("name", "group__name"):
            labels[name].append(f"{group}/{name}" if group else name)
        suggestions = []
        for name in _close(typed_name, labels):
            in_group = [label for label in labels[name] if label.startswith(f"{typed_group}/")]
            if typed_group or len(labels[name]) > 1:
                suggestions += sorted(in_group or labels[name])
            else:
                suggestions.append(name)
        return self.fail(
            _unknown(_("Unknown tag “%(name)s” at position %(position)s"), params, suggestions[:3]), term.position
        )

    def by_name(self, model, leaves: list[FieldTerm], unknown: str) -> dict[str, int]:
        """Stages and tiers (short lists ops configure): exact name, suggestions when unknown."""
        rows = dict(model.objects.filter(name__in={leaf.value for leaf in leaves}).values_list("name", "pk"))
        for leaf in leaves:
            if leaf.value not in rows:
                params = {"name": leaf.value, "position": leaf.value_position}
                close = _close(leaf.value, model.objects.values_list("name", flat=True))
                message = _unknown(unknown, params, close)
                raise self.fail(message, leaf.value_position)
        return rows

    def employees(self, leaves: list[FieldTerm]) -> dict[str, int]:
        rows = dict(Employee.objects.filter(userid__in={leaf.value for leaf in leaves}).values_list("userid", "pk"))
        for leaf in leaves:
            if leaf.value not in rows:
                raise self.fail(
                    _("No employee has the userid “%(name)s” (position %(position)s)")
                    % {"name": leaf.value, "position": leaf.value_position},
                    leaf.value_position,
                )
        return rows

    def groups(self, leaves: list[FieldTerm]) -> dict[str, list[int]]:
        """``group:`` takes a chat id or an exact group name; a name several groups share means any of them."""
        values = {leaf.value for leaf in leaves}
        rows: dict[str, list[int]] = defaultdict(list)
        for pk, chat_id, name in CustomerGroup.objects.filter(Q(chat_id__in=values) | Q(name__in=values)).values_list(
            "pk", "chat_id", "name"
        ):
            for value in {chat_id, name} & values:
                rows[value].append(pk)
        for leaf in leaves:
            if leaf.value not in rows:
                raise self.fail(
                    _("No customer group has the chat id or name “%(name)s” (position %(position)s)")
                    % {"name": leaf.value, "position": leaf.value_position},
                    leaf.value_position,
                )
        return rows


def _splits(name: str):
    """Every way to read ``name`` as ``group/tag`` (either side may itself hold a slash)."""
    for index, ch in enumerate(name):
        if ch == "/" and 0 < index < len(name) - 1:
            yield name[:index], name[index + 1 :]


def _unknown(message: str, params: dict, suggestions: list[str]) -> str:
    if not suggestions:
        return message % params
    return _("%(message)s (did you mean %(suggestions)s?)") % {
        "message": message % params,
        "suggestions": ", ".join(suggestions),
    }


def _close(name: str, candidates) -> list[str]:
    return difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.5)


# ---- building the Q ---------------------------------------------------------------------------------------------


@dataclass
class _Compiler:
    target: str
    names: _Names
    now: datetime

    def q(self, node: Node) -> Q:
        if isinstance(node, TagTerm):
            return Q(tag_ids__has_all=[self.names.tags[node]])
        if isinstance(node, FieldTerm):
            return self.field(node)
        if isinstance(node, Not):
            return ~self.q(node.operand)
        return self.junction(node)

    def junction(self, node: And | Or) -> Q:
        """Sibling tag terms folded into one array condition each for the positive and the negated ones."""
        positive, negative, rest = [], [], []
        for operand in node.operands:
            if isinstance(operand, TagTerm):
                positive.append(self.names.tags[operand])
            elif isinstance(operand, Not) and isinstance(operand.operand, TagTerm):
                negative.append(self.names.tags[operand.operand])
            else:
                rest.append(self.q(operand))
        positive, negative = sorted(set(positive)), sorted(set(negative))
        parts = []
        if isinstance(node, And):
            if positive:
                parts.append(Q(tag_ids__has_all=positive))
            if negative:
                parts.append(~Q(tag_ids__has_any=negative))
        else:
            if positive:
                parts.append(Q(tag_ids__has_any=positive))
            if negative:
                parts.append(~Q(tag_ids__has_all=negative))
        parts += rest
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part if isinstance(node, And) else combined | part
        return combined

    def field(self, term: FieldTerm) -> Q:
        if term.op in (">=", ">", "<=", "<") or term.field in ("spend", "orders", "idle_days", "members"):
            return self.comparison(term)
        q = self.equality(term)
        return ~q if term.op == "!=" else q

    def comparison(self, term: FieldTerm) -> Q:
        if term.field == "idle_days":
            return _idle_days(term.op, term.value, self.now)
        if term.field == "lifecycle":
            rank = lifecycle_rank(term.value)
            holds = {
                ">=": lambda other: other >= rank,
                ">": lambda other: other > rank,
                "<=": lambda other: other <= rank,
                "<": lambda other: other < rank,
            }[term.op]
            return Q(lifecycle_stage__in=[value for value in LIFECYCLE_ORDER if holds(lifecycle_rank(value))])
        column = {"spend": "total_spend", "orders": "order_count", "members": "member_count"}[term.field]
        if term.op == "!=":
            return ~Q(**{column: term.value})
        return Q(**{f"{column}__{_COMPARE[term.op]}": term.value})

    def equality(self, term: FieldTerm) -> Q:
        value, names = term.value, self.names
        if self.target == TagTarget.GROUP:
            if term.field == "owner":
                return Q(owner_userid=value)
            if term.field == "name":
                return Q(name__icontains=value) if term.op == ":" else Q(name=value)
            return Q(status=value)
        if term.field == "stage":
            return Q(opportunity_stage_id=names.stages[value])
        if term.field == "tier":
            return Q(tier_id=names.tiers[value])
        if term.field == "owner":
            return Q(owner_id=names.employees[value])
        if term.field == "lifecycle":
            return Q(lifecycle_stage=value)
        if term.field == "opt_out":
            return Q(marketing_opt_out=value)
        if term.field == "phone":
            return ~Q(phone="") if value else Q(phone="")
        if term.field == "channel":
            return Q(Exists(FollowRelation.objects.filter(contact__customer_id=OuterRef("pk"), state=value)))
        # group: currently in one of the groups, through any of the customer's WeCom contacts
        members = GroupMember.objects.filter(group_id__in=names.groups[value], left_at__isnull=True)
        contacts = ExternalContact.objects.filter(
            customer_id=OuterRef("pk"), external_userid__in=members.values("member_id")
        )
        return Q(Exists(contacts))


def _idle_days(op: str, days: int, now: datetime) -> Q:
    """Whole days since the last contact (since creation for a customer never contacted): ``idle_days >= N``
    means that moment is at least N×24 h ago. Two column conditions rather than a COALESCE, so the index on
    last_contact_at stays usable; every operator is written positively (no NOT over a nullable column)."""

    def at_least(n: int) -> Q:
        cutoff = now - timedelta(days=n)
        return Q(last_contact_at__lte=cutoff) | Q(last_contact_at__isnull=True, created_at__lte=cutoff)

    def under(n: int) -> Q:
        cutoff = now - timedelta(days=n)
        return Q(last_contact_at__gt=cutoff) | Q(last_contact_at__isnull=True, created_at__gt=cutoff)

    return {
        ">=": lambda: at_least(days),
        ">": lambda: at_least(days + 1),
        "<=": lambda: under(days + 1),
        "<": lambda: under(days),
        "=": lambda: at_least(days) & under(days + 1),
        "!=": lambda: at_least(days + 1) | under(days),
    }[op]()
