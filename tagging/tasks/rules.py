"""Tagging tasks: auto-tagging rules, on events (a hook named some customers), one rule, and the nightly batch."""

import logging

from celery import shared_task
from django.core.exceptions import ValidationError

from tagging.models import TagRule
from tagging.services import rules

logger = logging.getLogger(__name__)


@shared_task(name="tagging.rules_evaluate_customers", ignore_result=True)
def rules_evaluate_customers(customer_ids: list[int], kinds: list[str], text: str | None = None) -> None:
    """Apply the enabled rules of ``kinds`` to these customers (scheduled by ``tagging.hooks_rules``)."""
    rules.rules_evaluate_customers(customer_ids=customer_ids, kinds=kinds, text=text)


# Every customer against one rule: minutes at a million customers. Longer limits than the default, still under the
# broker's visibility timeout (an hour), so that a running evaluation is not delivered to a second worker.
@shared_task(name="tagging.rule_evaluate", ignore_result=True, soft_time_limit=3000, time_limit=3300)
def rule_evaluate(rule_id: int) -> None:
    """Evaluate one rule over every customer, if it is still enabled."""
    rule = TagRule.objects.filter(pk=rule_id, enabled=True).select_related("tag").first()
    if rule is None:
        return
    try:
        rules.rule_evaluate(rule=rule)
    except ValidationError as exc:  # its tag was deleted since it was enabled: nothing to retry until staff act
        logger.warning("tagging rule %s not evaluated: %s", rule_id, "; ".join(exc.messages))


@shared_task(name="tagging.rules_evaluate_all", ignore_result=True)
def rules_evaluate_all() -> None:
    """Nightly: one ``tagging.rule_evaluate`` per enabled rule (idle-days rules change with time alone)."""
    rules.rules_evaluate_all()
