"""A small corp for the customers API tests: an ops user, two sales users with their employees, and customers
that one sales user owns, follows, used to follow, or has nothing to do with.

Import the fixtures you use into the test module (``from tests.customers.api_fixtures import corp_fixture``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from customers.models import Customer, Employee, FollowRelation
from customers.services.identity import customer_bind_phone, customer_create, customer_update
from customers.services.wecom import employee_upsert, follow_relation_mark, follow_relation_upsert
from scrm.core.roles import OPS, SALES

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)

OWNED_PHONE = "13812345678"
FOLLOWED_PHONE = "13900001111"
FOREIGN_PHONE = "13700002222"


@dataclass
class Corp:
    ops: object
    sales: object
    viewer: object  # may see every customer but write nothing
    zhangsan: Employee  # the sales user's employee
    lisi: Employee
    owned: Customer  # owned by zhangsan
    followed: Customer  # followed (active relation) by zhangsan, owned by lisi
    ended: Customer  # zhangsan's relation ended
    foreign: Customer  # lisi's only
    nophone: Customer  # nobody's, no phone

    def client(self, user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        client.credentials(HTTP_ACCEPT_LANGUAGE="en")
        return client


def contact_customer(external_userid: str) -> Customer:
    return Customer.objects.get(contacts__external_userid=external_userid)


@pytest.fixture(name="corp")
def corp_fixture(make_user) -> Corp:
    ops = make_user("ops1", role=OPS)
    sales = make_user("sales1", role=SALES)
    sales2 = make_user("sales2", role=SALES)
    viewer = make_user("viewer")
    viewer.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="customers", codename__in=["view_customer", "view_all_customers"]
        )
    )
    zhangsan = employee_upsert(userid="zhangsan", name="Zhang San")
    lisi = employee_upsert(userid="lisi", name="Li Si")
    Employee.objects.filter(pk=zhangsan.pk).update(user=sales)
    Employee.objects.filter(pk=lisi.pk).update(user=sales2)

    owned = customer_create(phone=OWNED_PHONE, name="王芳", owner=zhangsan)

    follow_relation_upsert(userid="zhangsan", external_userid="wmFollowed", at=T0, added_at=T0, state="shop-1")
    followed = contact_customer("wmFollowed")
    customer_update(customer=followed, actor=None, name="李雷", owner=lisi)
    followed = customer_bind_phone(customer=followed, phone=FOLLOWED_PHONE)

    follow_relation_upsert(userid="zhangsan", external_userid="wmEnded", at=T0, added_at=T0)
    follow_relation_mark(
        userid="zhangsan", external_userid="wmEnded", status=FollowRelation.Status.DELETED_BY_CUSTOMER, at=T0
    )
    ended = contact_customer("wmEnded")
    customer_update(customer=ended, actor=None, name="韩梅梅", owner=lisi)  # its first follower owned it

    foreign = customer_create(phone=FOREIGN_PHONE, name="赵敏", owner=lisi)
    nophone = customer_create(name="Anonymous")
    return Corp(
        ops=ops,
        sales=sales,
        viewer=viewer,
        zhangsan=zhangsan,
        lisi=lisi,
        owned=owned,
        followed=followed,
        ended=ended,
        foreign=foreign,
        nophone=nophone,
    )
