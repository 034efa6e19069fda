# ruff: noqa: F811 - pytest fixtures imported from transfer_fixtures are test arguments of the same name
"""The transfer pages in the admin: each customer's eligibility (WeCom's two-per-90-days rule) shown before the
confirmation, the transfer created only on confirming, resigned staff's unassigned customers, open alerts with a
"mark resolved" action; sales staff cannot reach any of it."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import CustomerAlert, CustomerTransfer
from customers.services.transfers import unassigned_refresh
from scrm.core.models import AuditLog
from scrm.core.roles import SALES
from tests.customers.transfer_fixtures import (  # noqa: F401 - fixtures
    IN_POST,
    callback_crypto,
    contacts,
    employee,
    seed,
    sim,
    wecom_configured,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(client, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # assert on the source messages, not the zh-hans default


REQUEST = reverse("admin:customers_customertransfer_request")
UNASSIGNED = reverse("admin:customers_customertransfer_unassigned")
CHANGELIST = reverse("admin:customers_customertransfer_changelist")
TRANSFER = "externalcontact/transfer_customer"


def transferred_twice(contact):
    for days in (60, 20):
        CustomerTransfer.objects.create(
            kind=IN_POST,
            contact=contact,
            handover=employee("chenqi"),
            takeover=employee("zhangsan"),
            status="done",
            requested_at=timezone.now() - timedelta(days=days),
        )


@pytest.fixture
def corp(sim):
    exts = seed(sim, 2)
    free, twice = contacts(exts)
    transferred_twice(twice)
    return free, twice


def test_the_transfer_list_links_to_the_transfer_pages(ops_client):
    page = ops_client.get(CHANGELIST).content.decode()

    assert REQUEST in page and UNASSIGNED in page


def test_eligibility_is_shown_with_the_customers_and_again_before_confirming(
    ops_client, corp, sim, django_capture_on_commit_callbacks
):
    free, twice = corp
    zhangsan, lisi = employee("zhangsan"), employee("lisi")
    possible = timezone.localtime(CustomerTransfer.objects.earliest("requested_at").requested_at + timedelta(90))
    refusal = f"Transferred twice within 90 days; possible again from {possible:%Y-%m-%d %H:%M}."

    listing = ops_client.get(REQUEST, {"kind": IN_POST, "handover": zhangsan.pk, "query": "客户"})

    assert listing.status_code == 200
    page = listing.content.decode()
    assert str(free) in page and str(twice) in page
    assert refusal in page
    assert f'name="contacts" value="{twice.pk}" disabled' in page
    assert f'name="contacts" value="{free.pk}">' in page

    chosen = {"kind": IN_POST, "handover": zhangsan.pk, "takeover": lisi.pk, "contacts": [free.pk, twice.pk]}
    review = ops_client.post(REQUEST, {"step": "review", **chosen})

    assert review.status_code == 200
    page = review.content.decode()
    assert "1 can be transferred now, 1 cannot." in page
    assert refusal in page
    assert 'name="step" value="confirm"' in page
    assert CustomerTransfer.objects.filter(status="pending").count() == 0  # nothing before the confirmation
    assert sim.requests_to(TRANSFER) == []

    with django_capture_on_commit_callbacks() as callbacks:
        confirmed = ops_client.post(REQUEST, {"step": "confirm", **chosen})

    assert confirmed.status_code == 302 and confirmed.url == CHANGELIST
    created = CustomerTransfer.objects.get(status="pending")
    assert (created.contact, created.handover, created.takeover, created.kind) == (free, zhangsan, lisi, IN_POST)
    assert created.actor.username == "ops1"
    assert CustomerTransfer.objects.filter(contact=twice).count() == 2  # only its two old ones
    assert len(callbacks) == 1  # the send, after commit
    assert AuditLog.objects.filter(action="transfer_request").count() == 1


def test_a_review_without_takeover_or_customers_shows_the_list_again_with_the_errors(ops_client, corp):
    free, _twice = corp

    response = ops_client.post(REQUEST, {"step": "review", "kind": IN_POST, "handover": employee("zhangsan").pk})

    page = response.content.decode()
    assert response.status_code == 200
    assert "Choose the employee who takes the customers over." in page
    assert "Choose at least one customer to transfer." in page
    assert f'value="{free.pk}"' in page
    assert CustomerTransfer.objects.filter(status="pending").count() == 0


def test_unassigned_customers_of_resigned_staff_are_listed_reviewed_and_transferred(
    ops_client, sim, django_capture_on_commit_callbacks
):
    seed(sim, 0)
    expected = sorted(sim.state.customers_of("zhaoliu"))

    refreshed = ops_client.post(UNASSIGNED, {"step": "refresh"})
    assert refreshed.status_code == 302
    page = ops_client.get(UNASSIGNED).content.decode()
    items = [f"{contact.pk}:zhaoliu" for contact in contacts(expected)]
    assert all(f'value="{item}"' in page for item in items)

    lisi = employee("lisi")
    review = ops_client.post(UNASSIGNED, {"step": "review", "takeover": lisi.pk, "item": items})
    assert f"{len(expected)} can be transferred now, 0 cannot." in review.content.decode()
    assert CustomerTransfer.objects.count() == 0

    with django_capture_on_commit_callbacks() as callbacks:
        confirmed = ops_client.post(UNASSIGNED, {"step": "confirm", "takeover": lisi.pk, "item": items})

    assert confirmed.status_code == 302
    assert sorted(CustomerTransfer.objects.values_list("contact__external_userid", flat=True)) == expected
    assert set(CustomerTransfer.objects.values_list("kind", "handover__userid", "takeover__userid")) == {
        ("resigned", "zhaoliu", "lisi")
    }
    assert len(callbacks) == 1


def test_sales_cannot_reach_the_transfer_pages(client, make_user, sim):
    exts = seed(sim, 1)
    (contact,) = contacts(exts)
    sales = make_user("sales1", role=SALES, is_staff=True)
    client.force_login(sales)
    form = {"step": "confirm", "kind": IN_POST, "handover": employee("zhangsan").pk, "takeover": employee("lisi").pk}

    assert client.get(REQUEST, {"kind": IN_POST, "handover": employee("zhangsan").pk}).status_code == 403
    assert client.post(REQUEST, {**form, "contacts": [contact.pk]}).status_code == 403
    assert client.get(UNASSIGNED).status_code == 403
    assert client.post(UNASSIGNED, {"step": "refresh"}).status_code == 403
    assert REQUEST not in client.get(CHANGELIST).content.decode()

    assert CustomerTransfer.objects.count() == 0
    assert sim.requests_to("externalcontact/get_unassigned_list") == []


def test_open_alerts_are_listed_and_resolved_by_ops(ops_client, sim):
    exts = seed(sim, 2)
    first, second = (contact.customer for contact in contacts(exts))
    open_alert = CustomerAlert.objects.create(customer=first, kind="lost", message="王芳 deleted 张三", source_key="a")
    done = CustomerAlert.objects.create(
        customer=second, kind="lost", message="李娜 deleted 张三", source_key="b", resolved_at=timezone.now()
    )
    url = reverse("admin:customers_customeralert_changelist")

    page = ops_client.get(url).content.decode()

    assert open_alert.message in page and done.message not in page
    assert done.message in ops_client.get(url, {"state": "resolved"}).content.decode()

    response = ops_client.post(url, {"action": "mark_resolved", "_selected_action": [open_alert.pk]})

    assert response.status_code == 302
    open_alert.refresh_from_db()
    assert open_alert.resolved_at is not None
    assert AuditLog.objects.filter(action="resolve", target_id=str(open_alert.pk)).count() == 1
    assert CustomerAlert.objects.filter(resolved_at__isnull=True).count() == 0


def test_sales_see_only_their_customers_alerts_and_cannot_resolve_them(client, make_user, sim):
    exts = seed(sim, 1)
    (contact,) = contacts(exts)
    theirs = CustomerAlert.objects.create(customer=contact.customer, kind="lost", message="mine", source_key="a")
    other = contacts([sim.state.customers_of("wangwu")[0]])[0]
    hidden = CustomerAlert.objects.create(customer=other.customer, kind="lost", message="not mine", source_key="b")
    sales = make_user("sales1", role=SALES, is_staff=True)
    zhangsan = employee("zhangsan")
    zhangsan.user = sales
    zhangsan.save(update_fields=["user"])
    client.force_login(sales)
    url = reverse("admin:customers_customeralert_changelist")

    page = client.get(url).content.decode()
    client.post(url, {"action": "mark_resolved", "_selected_action": [theirs.pk]})

    assert theirs.message in page and hidden.message not in page
    assert 'value="mark_resolved"' not in page
    assert CustomerAlert.objects.filter(resolved_at__isnull=True).count() == 2


def test_unassigned_page_before_the_first_read(ops_client, sim):
    assert "Not read from WeCom yet." in ops_client.get(UNASSIGNED).content.decode()
    assert unassigned_refresh() == len(sim.state.customers_of("zhaoliu"))
