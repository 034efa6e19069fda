"""tagging.segments: expressions resolved against the taxonomy and compiled to exact member sets (customers and
groups), on PostgreSQL and SQLite alike; the errors only the database can find; the SQL shape on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import translation

from customers.selectors import customers_search
from tagging.models import Source
from tagging.segments import SegmentError, customers_in_segment, groups_in_segment, segment_q, validate
from tagging.services import customer_tags_change
from tests.tagging.segment_fixtures import shop_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

EVERYONE = {"王芳", "李雷", "韩梅梅", "赵敏", "Anonymous"}


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def members(expression: str, **kwargs) -> set[str]:
    return set(customers_in_segment(expression, **kwargs).values_list("name", flat=True))


def chats(expression: str) -> set[str]:
    return set(groups_in_segment(expression).values_list("chat_id", flat=True))


def error(expression: str, target: str = "customer") -> tuple[str, int]:
    with pytest.raises(SegmentError) as caught:
        validate(expression, target=target)
    return caught.value.message, caught.value.position


TAG_TERMS = {
    "奶粉": {"王芳", "韩梅梅"},
    "奶粉 辅食": set(),
    "奶粉 OR 辅食": {"王芳", "李雷", "韩梅梅", "Anonymous"},
    "(奶粉 OR 辅食) AND NOT 已流失": {"王芳", "李雷", "Anonymous"},
    "NOT 奶粉": {"李雷", "赵敏", "Anonymous"},
    "!奶粉 !辅食": {"赵敏"},
    "!奶粉 | !辅食": EVERYONE,
    "NOT (辅食 玩具)": EVERYONE - {"Anonymous"},
    "辅食 且 玩具": {"Anonymous"},
    "奶粉 OR 辅食 玩具": {"王芳", "韩梅梅", "Anonymous"},  # AND binds tighter
    "(奶粉 OR 辅食) 玩具": {"Anonymous"},
    "奶粉 或 非 已流失": EVERYONE,
    "兴趣/进口": {"王芳"},
    '"new mum"': {"Anonymous"},
    "tag:奶粉 tag:兴趣/进口": {"王芳"},
    "NOT NOT 奶粉": {"王芳", "韩梅梅"},
}


def test_tag_terms(shop):
    """Each expression → its exact members (one fixture for the whole table: it is slow to build)."""
    assert {expression: members(expression) for expression in TAG_TERMS} == TAG_TERMS


FIELD_TERMS = {
    "stage:谈判": {"王芳"},
    "NOT stage:谈判": EVERYONE - {"王芳"},  # customers without a stage included
    "stage!=谈判": EVERYONE - {"王芳"},
    "lifecycle:conversion": {"王芳", "李雷"},
    "lifecycle:转化": {"王芳", "李雷"},
    "lifecycle>=Conversion": {"王芳", "李雷", "赵敏"},
    "lifecycle<trial": {"韩梅梅", "Anonymous"},
    "lifecycle!=awareness": {"王芳", "李雷", "赵敏"},
    "spend>=500": {"王芳", "赵敏"},
    "spend>600": {"赵敏"},
    "spend<=100": {"李雷", "韩梅梅", "Anonymous"},
    "spend<100": {"韩梅梅", "Anonymous"},
    "spend=600": {"王芳"},
    "spend!=600": EVERYONE - {"王芳"},
    "spend>=99.5": {"王芳", "李雷", "赵敏"},
    "orders>=2": {"赵敏"},
    "orders=0": {"韩梅梅", "Anonymous"},
    "idle_days>=30": {"王芳", "韩梅梅"},
    "idle_days>40": {"韩梅梅"},
    "idle_days=40": {"王芳"},
    "idle_days!=40": EVERYONE - {"王芳"},
    "idle_days<30": {"李雷", "赵敏", "Anonymous"},
    "idle_days<=5": {"李雷", "赵敏", "Anonymous"},
    "idle_days<5": {"赵敏", "Anonymous"},
    "NOT idle_days>=30": {"李雷", "赵敏", "Anonymous"},
    "owner:zhangsan": {"王芳"},
    "owner:lisi": {"赵敏"},
    "channel:shop-1": {"李雷"},
    "NOT channel:shop-1": EVERYONE - {"李雷"},
    "group:chat1": {"李雷"},
    "group:宝妈交流群": {"李雷"},
    "group:chat2": set(),  # Anonymous left it
    "NOT group:chat1": EVERYONE - {"李雷"},
    "tier:VIP": {"王芳", "赵敏"},
    "opt_out:yes": {"赵敏"},
    "opt_out:no": EVERYONE - {"赵敏"},
    "phone:yes": {"王芳", "赵敏"},
    "phone:否": {"李雷", "韩梅梅", "Anonymous"},
}


def test_field_terms(shop):
    """Each field term → its exact members."""
    assert {expression: members(expression) for expression in FIELD_TERMS} == FIELD_TERMS


def test_the_headline_expression(shop):
    assert members("(奶粉 OR 辅食) AND NOT 已流失 AND stage:谈判 AND spend>=500") == {"王芳"}
    assert members("(奶粉 OR 辅食) AND NOT 已流失 AND spend>=100 OR channel:shop-2") == {"王芳", "李雷", "Anonymous"}


GROUP_TERMS = {
    "宝妈群": {"chat1"},
    "活跃群": {"chat1", "chat2"},
    "活跃群 NOT 宝妈群": {"chat2"},
    "NOT 活跃群": {"chat3"},
    "members>=2": {"chat1"},
    "members=0": {"chat2", "chat3"},
    "owner:lisi": {"chat2", "chat3"},
    "name:宝妈": {"chat1"},
    "name=活跃2群": {"chat2"},
    "name!=活跃2群": {"chat1", "chat3"},
    "status:dismissed": {"chat3"},
    "status:normal 活跃群": {"chat1", "chat2"},
}


def test_group_target(shop):
    """Expressions over customer groups → their exact chat ids."""
    assert {expression: chats(expression) for expression in GROUP_TERMS} == GROUP_TERMS


def test_sales_see_only_their_own_customers_in_a_segment(shop):
    assert members("奶粉 OR 辅食", user=shop.sales) == {"王芳", "李雷"}
    assert members("奶粉 OR 辅食", user=shop.ops) == {"王芳", "李雷", "韩梅梅", "Anonymous"}


def test_resolving_costs_one_query_per_kind_of_name(shop, django_assert_num_queries):
    with django_assert_num_queries(1):  # every tag of the expression at once
        segment_q("奶粉 OR 辅食 OR 玩具 OR 兴趣/进口 NOT 已流失", target="customer")
    with django_assert_num_queries(4):  # tags, stages, tiers, employees; the count itself is one more
        q = segment_q("奶粉 辅食 stage:谈判 tier:VIP owner:zhangsan spend>=1 lifecycle:trial", target="customer")
    with django_assert_num_queries(0):
        segment_q("spend>=1 idle_days>3 opt_out:no", target="customer")
    assert q is not None


def test_a_tag_deleted_or_renamed_later_changes_the_answer_not_the_expression(shop):
    customer_tags_change(customer_ids=[shop.customers["赵敏"].pk], add=[shop.tags["奶粉"].pk], source=Source.MANUAL)
    assert members("奶粉") == {"王芳", "韩梅梅", "赵敏"}


DATABASE_ERRORS = {
    ("奶份", "customer"): ("Unknown tag “奶份” at position 0 (did you mean 奶粉?)", 0),
    ("奶粉 OR 旧", "customer"): ("Unknown tag “旧” at position 6", 6),  # deleted tags are unknown
    ("(奶粉 OR 进口)", "customer"): (
        "The tag “进口” at position 7 is in several tag groups (兴趣, 品类): write 兴趣/进口",
        7,
    ),
    ("奶粉 进品", "customer"): ("Unknown tag “进品” at position 3 (did you mean 兴趣/进口, 品类/进口?)", 3),
    ("兴趣/进品", "customer"): ("Unknown tag “兴趣/进品” at position 0 (did you mean 兴趣/进口?)", 0),
    ("奶粉 宝妈群", "customer"): ("The tag “宝妈群” at position 3 applies to customer groups, not to customers", 3),
    ("奶粉", "group"): ("The tag “奶粉” at position 0 applies to customers, not to customer groups", 0),
    ("stage:谈", "customer"): ("Unknown opportunity stage “谈” at position 6 (did you mean 谈判?)", 6),
    ("tier:VIPP", "customer"): ("Unknown member tier “VIPP” at position 5 (did you mean VIP?)", 5),
    ("owner:wangwu", "customer"): ("No employee has the userid “wangwu” (position 6)", 6),
    ("group:nochat", "customer"): ("No customer group has the chat id or name “nochat” (position 6)", 6),
    ("宝妈群 spend>=5", "group"): ("“spend” does not apply to customer groups (position 4)", 4),
    ("members>=5", "customer"): ("“members” does not apply to customers (position 0)", 0),
}


def test_errors_found_in_the_database(shop):
    """Names that do not resolve: the message, and the position it points at."""
    assert {key: error(*key) for key in DATABASE_ERRORS} == DATABASE_ERRORS


def test_a_segment_error_converts_to_a_field_error(shop):
    with pytest.raises(SegmentError) as caught:
        validate("奶粉 AND 奶份", target="customer")
    assert caught.value.as_validation_error("segment").message_dict == {
        "segment": ["Unknown tag “奶份” at position 7 (did you mean 奶粉?)"]
    }
    # the caret sits under 奶份: 奶粉 takes four columns on a terminal
    assert caught.value.pointer == "奶粉 AND 奶份\n" + " " * 9 + "^"


def test_the_customer_list_filter_is_registered(shop):
    from customers.selectors import customers_filter_by

    customers = customers_filter_by(customers_search(user=shop.ops), {"segment": "奶粉"}, user=shop.ops)
    assert set(customers.values_list("name", flat=True)) == {"王芳", "韩梅梅"}


@pytest.mark.postgres
def test_sibling_tag_terms_fold_into_one_array_condition(shop):
    sql = str(customers_in_segment("奶粉 AND 辅食 AND NOT 已流失 AND NOT 玩具 AND spend>=1").query)
    assert sql.count("@>") == 1 and sql.count("&&") == 1
    sql = str(customers_in_segment("奶粉 OR 辅食 OR 玩具").query)
    assert sql.count("&&") == 1 and "@>" not in sql
    sql = str(customers_in_segment("!奶粉 | !辅食").query)
    assert sql.count("@>") == 1 and "&&" not in sql
    assert connection.vendor == "postgresql"
