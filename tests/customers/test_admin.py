"""customers admin: WeCom-owned records list, search, filter and show (with inlines); nothing is editable."""

from datetime import UTC, datetime

import pytest

from customers.models import ExternalContact
from customers.services import external_contact_upsert_from_wecom, follow_relation_upsert

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact():
    follow_relation_upsert(userid="lisi", external_userid="wmB", at=datetime(2024, 3, 1, tzinfo=UTC), state="store-001")
    return external_contact_upsert_from_wecom(
        detail={
            "external_contact": {"external_userid": "wmA", "name": "王芳", "type": 1, "gender": 2},
            "follow_user": [{"userid": "zhangsan", "remark": "王芳-会员", "createtime": 1709283600, "tags": []}],
        }
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/admin/customers/employee/?q=zhangsan", "zhangsan"),
        ("/admin/customers/employee/?status__exact=active", "lisi"),
        ("/admin/customers/externalcontact/?q=王芳", "wmA"),
        ("/admin/customers/externalcontact/?type__exact=1", "wmA"),
        ("/admin/customers/followrelation/?q=store-001", "wmB"),
        ("/admin/customers/followrelation/?status__exact=active", "zhangsan"),
    ],
)
def test_changelists_search_and_filter(ops_client, contact, url, expected):
    response = ops_client.get(url)

    assert response.status_code == 200
    assert expected in response.content.decode()


def test_contact_page_shows_its_follow_relations_read_only(ops_client, contact):
    response = ops_client.get(f"/admin/customers/externalcontact/{contact.pk}/change/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "王芳-会员" in body
    assert 'name="_save"' not in body
    assert ops_client.get("/admin/customers/externalcontact/add/").status_code == 403
    assert ops_client.get(f"/admin/customers/externalcontact/{contact.pk}/delete/").status_code == 403
    assert ExternalContact.objects.count() == 2
