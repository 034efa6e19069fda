"""The tagging-rule admin: the list with last-run figures; the form refuses a bad value on its field and saves
through the services (disabled, audited); the change page previews what evaluating would do; "enable" shows the
preview and only the confirmed POST enables (and runs the first evaluation); "disable" and "re-evaluate now";
sales may look but change nothing."""

import pytest
from django.contrib.messages import get_messages

from customers.services import order_record
from groups.models import CustomerGroup
from scrm.core.models import AuditLog
from scrm.core.roles import OPS, SALES
from tagging.models import RuleKind, TagRule
from tests.tagging.rule_fixtures import (  # noqa: F401 - fixtures
    eager_fixture,
    make_customers,
    make_rule,
    rule_made,
    rule_tags_fixture,
)

pytestmark = pytest.mark.django_db

LIST = "/admin/tagging/tagrule/"
ADD = "/admin/tagging/tagrule/add/"


def change_url(rule: TagRule) -> str:
    return f"/admin/tagging/tagrule/{rule.pk}/change/"


@pytest.fixture
def ops(client, make_user, settings):
    client.force_login(make_user("ops1", role=OPS, is_staff=True))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # assert on the source messages, not zh-hans
    return client


@pytest.fixture
def rich(rule_tags):
    """Three customers: two spent 800, one nothing."""
    customers = make_customers("王芳", "李雷", "韩梅梅")
    for n, customer in enumerate(customers[:2]):
        order_record(customer=customer, external_id=f"o{n}", amount="800", ordered_at=customer.created_at)
    return customers


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def action(ops, name: str, rules, **extra):
    return ops.post(LIST, {"action": name, "_selected_action": [rule.pk for rule in rules], **extra}, follow=True)


def test_the_list_shows_condition_state_and_last_run(ops, rule_tags):
    rule = make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "500", name="大客户")
    TagRule.objects.filter(pk=rule.pk).update(last_added=12, last_removed=3)

    html = ops.get(LIST).content.decode()

    assert "大客户" in html
    assert "自动/高价值" in html
    assert "cumulative spend at least" in html
    assert '<td class="field-last_added">12</td>' in html
    assert '<td class="field-last_removed">3</td>' in html
    assert "大客户" in ops.get(f"{LIST}?kind__exact=spend_at_least&enabled__exact=0").content.decode()
    assert "大客户" not in ops.get(f"{LIST}?enabled__exact=1").content.decode()


def test_the_form_offers_only_tags_a_rule_may_put_on(ops, rule_tags):
    html = ops.get(ADD).content.decode()

    assert "自动/高价值" in html
    assert "个人/老客" not in html
    assert "群分类/宝妈群" not in html


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (RuleKind.SPEND_AT_LEAST, "lots", "Enter an amount, such as 500."),
        (RuleKind.LIFECYCLE_STAGE, "成交", "is not a lifecycle stage"),
        (RuleKind.GROUP_MEMBER, "没有这个群", "No customer group has the chat id or the name"),
    ],
)
def test_a_bad_value_is_refused_on_its_field_and_nothing_is_saved(ops, rule_tags, kind, value, message):
    response = ops.post(ADD, {"name": "r", "tag": rule_tags["高价值"].pk, "kind": kind, "value": value})

    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors["value"])
    assert TagRule.objects.count() == 0
    assert AuditLog.objects.filter(target_type="tagging.tagrule").count() == 0


def test_adding_saves_a_disabled_rule_through_the_service(ops, rule_tags):
    response = ops.post(
        ADD, {"name": "转化客户", "tag": rule_tags["意向"].pk, "kind": "lifecycle_stage", "value": "转化"}
    )

    rule = TagRule.objects.get()
    assert response.status_code == 302
    assert (rule.value, rule.enabled, rule.created_by.username) == ("conversion", False, "ops1")
    assert AuditLog.objects.get(target_type="tagging.tagrule").action == "create"


def test_the_change_page_previews_gain_and_loss_with_a_sample(ops, rule_tags, rich):
    rule = make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "500")

    html = ops.get(change_url(rule)).content.decode()

    assert "Evaluating now would add the tag to 2 customers and remove it from 0." in html
    assert f'<a href="/admin/customers/customer/{rich[0].pk}/change/">王芳</a>' in html
    assert "韩梅梅" not in html


def test_changing_the_condition_of_an_enabled_rule_disables_it_and_says_so(ops, rule_tags):
    rule = make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "500", enabled=True)

    response = ops.post(
        change_url(rule), {"name": rule.name, "tag": rule.tag.pk, "kind": rule.kind, "value": "800"}, follow=True
    )

    rule.refresh_from_db()
    assert (rule.value, rule.enabled) == ("800", False)
    assert any("the rule was disabled" in message for message in messages_of(response))


@pytest.mark.usefixtures("eager")
def test_enabling_shows_the_preview_then_enables_on_confirmation(
    ops, rule_tags, rich, django_capture_on_commit_callbacks
):
    rule = make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "500")

    page = action(ops, "enable_rules", [rule])
    assert "Evaluating now would add the tag to 2 customers and remove it from 0." in page.content.decode()
    assert TagRule.objects.get(pk=rule.pk).enabled is False

    with django_capture_on_commit_callbacks(execute=True):
        done = action(ops, "enable_rules", [rule], confirm="yes")

    assert messages_of(done) == ["1 rule enabled; its first evaluation is running."]
    rule.refresh_from_db()
    assert (rule.enabled, rule.last_added) == (True, 2)
    assert rule_made(rule.tag) == sorted(customer.pk for customer in rich[:2])
    assert AuditLog.objects.filter(target_type="tagging.tagrule", action="enable").count() == 1


def test_a_rule_whose_group_went_away_is_not_enabled(ops, rule_tags):
    group = CustomerGroup.objects.create(chat_id="wrMoms", name="宝妈群1")
    rule = make_rule(rule_tags["意向"], RuleKind.GROUP_MEMBER, "wrMoms")
    group.delete()

    done = action(ops, "enable_rules", [rule], confirm="yes")

    assert messages_of(done) == [f"{rule}: No customer group has the chat id or the name “wrMoms”."]
    assert TagRule.objects.get(pk=rule.pk).enabled is False


@pytest.mark.usefixtures("eager")
def test_disable_and_re_evaluate(ops, rule_tags, rich, django_capture_on_commit_callbacks):
    on = make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "500", enabled=True, name="on")
    off = make_rule(rule_tags["沉睡"], RuleKind.SPEND_AT_LEAST, "0", name="off")

    with django_capture_on_commit_callbacks(execute=True):
        response = action(ops, "evaluate_rules", [on, off])
    assert messages_of(response) == [
        "off: Enable the rule before evaluating it.",
        "1 rule is being evaluated; its figures update when it is done.",
    ]
    assert len(rule_made(on.tag)) == 2
    assert rule_made(off.tag) == []

    response = action(ops, "disable_rules", [on, off])
    assert messages_of(response) == ["1 rule disabled."]
    assert TagRule.objects.filter(enabled=True).count() == 0
    assert len(rule_made(on.tag)) == 2  # disabling keeps the tags


def test_deleting_goes_through_the_service(ops, rule_tags):
    rule = make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "500")

    response = ops.post(f"/admin/tagging/tagrule/{rule.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert TagRule.objects.count() == 0
    assert list(AuditLog.objects.filter(target_type="tagging.tagrule").values_list("action", flat=True)) == [
        "delete",
        "create",
    ]


def test_sales_may_look_but_not_change(client, make_user, rule_tags, rich):
    client.force_login(make_user("sales1", role=SALES, is_staff=True))
    rule = make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "500")

    page = client.get(change_url(rule))
    assert page.status_code == 200
    assert "王芳" not in page.content.decode()  # the preview's sample shows only their own customers

    client.post(LIST, {"action": "enable_rules", "_selected_action": [rule.pk], "confirm": "yes"})
    assert (
        client.post(change_url(rule), {"name": "x", "tag": rule.tag.pk, "kind": rule.kind, "value": "1"}).status_code
        == 403
    )
    assert TagRule.objects.get(pk=rule.pk).enabled is False
    assert TagRule.objects.get(pk=rule.pk).name != "x"
