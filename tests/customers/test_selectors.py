"""customers selectors: the joins they promise, pinned by query counts."""

from datetime import UTC, datetime, timedelta

import pytest

from customers.models import FollowRelation
from customers.selectors import (
    contact_relations,
    employee_relations,
    employee_userids_known,
    employees_without_detail,
    external_contacts_without_detail,
)
from customers.services import (
    employee_upsert,
    external_contact_upsert_from_wecom,
    follow_relation_mark,
    follow_relation_upsert,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def relations():
    for n, userid in enumerate(["zhangsan", "lisi", "wangwu"]):
        employee_upsert(userid=userid, name=userid.title())
        follow_relation_upsert(userid=userid, external_userid="wmA", at=T0, added_at=T0 + timedelta(hours=n))
    follow_relation_upsert(userid="zhangsan", external_userid="wmB", at=T0, added_at=T0)
    follow_relation_mark(
        userid="wangwu", external_userid="wmA", status=FollowRelation.Status.DELETED_BY_CUSTOMER, at=T0 + timedelta(1)
    )


def test_contact_relations_is_one_query(relations, django_assert_num_queries):
    with django_assert_num_queries(1):
        rows = [
            (r.employee.name, r.contact.external_userid, r.status) for r in contact_relations(external_userid="wmA")
        ]

    assert rows == [
        ("Zhangsan", "wmA", "active"),
        ("Lisi", "wmA", "active"),
        ("Wangwu", "wmA", "deleted_by_customer"),
    ]


def test_contact_relations_active_only(relations, django_assert_num_queries):
    with django_assert_num_queries(1):
        userids = [r.employee.userid for r in contact_relations(external_userid="wmA", active_only=True)]

    assert userids == ["zhangsan", "lisi"]


def test_employee_relations_is_one_query(relations, django_assert_num_queries):
    with django_assert_num_queries(1):
        contacts = [r.contact.external_userid for r in employee_relations(userid="zhangsan")]

    assert sorted(contacts) == ["wmA", "wmB"]
    assert list(employee_relations(userid="wangwu")) == []
    assert len(employee_relations(userid="wangwu", active_only=False)) == 1


def test_placeholders_and_known_employees(relations, django_assert_num_queries):
    external_contact_upsert_from_wecom(detail={"external_contact": {"external_userid": "wmB", "name": "李娜"}})

    with django_assert_num_queries(1):
        assert [c.external_userid for c in external_contacts_without_detail()] == ["wmA"]
    assert list(employees_without_detail()) == []
    with django_assert_num_queries(1):
        assert employee_userids_known(userids=["lisi", "wmA", "nobody"]) == {"lisi"}
