"""customers admin for customers: search, visibility, services behind the forms, audited reveal, merge action."""

import pytest

from customers.models import Customer, CustomerMerge, Employee, OpportunityStage, StageChange
from customers.services import customer_create, follow_relation_upsert, timeline_note_add
from scrm.core.models import AuditLog
from scrm.core.roles import SALES

pytestmark = pytest.mark.django_db


@pytest.fixture
def customers():
    return [
        customer_create(phone="13812345678", name="王芳"),
        customer_create(phone="13900001111", name="李雷"),
        customer_create(name="韩梅梅"),
    ]


@pytest.fixture
def sales_user(make_user, customers):
    """A sales user whose employee follows 李雷 only (in WeCom, with 李雷's number noted)."""
    user = make_user("sales1", role=SALES, is_staff=True)
    follow_relation_upsert(userid="sales1", external_userid="wmLi", remark_mobiles=["13900001111"])
    Employee.objects.filter(userid="sales1").update(user=user)
    return user


@pytest.fixture
def sales_client(client, sales_user):
    client.force_login(sales_user)
    return client


NO_INLINE_CHANGES = {
    f"{prefix}-{name}": "0"
    for prefix in ("contacts", "orders", "stage_changes")
    for name in ("TOTAL_FORMS", "INITIAL_FORMS")
}


def names(response) -> set[str]:
    return {customer.name for customer in response.context["cl"].result_list}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("138 1234 5678", {"王芳"}),
        ("+8613812345678", {"王芳"}),
        ("1111", {"李雷"}),
        ("梅", {"韩梅梅"}),
        ("", {"王芳", "李雷", "韩梅梅"}),
    ],
)
def test_ops_search_by_phone_last_four_and_name(ops_client, customers, query, expected):
    response = ops_client.get("/admin/customers/customer/", {"q": query})

    assert response.status_code == 200
    assert names(response) == expected


def test_the_list_shows_numbers_masked(ops_client, customers):
    page = ops_client.get("/admin/customers/customer/").content.decode()

    assert "138****5678" in page and "139****1111" in page
    assert "13812345678" not in page and "13900001111" not in page


def test_sales_see_only_the_customers_they_follow(sales_client, customers):
    listed = sales_client.get("/admin/customers/customer/")
    other = sales_client.get(f"/admin/customers/customer/{customers[0].pk}/change/")

    assert names(listed) == {"李雷"}
    assert other.status_code == 302  # not theirs: the admin answers as for a missing object
    assert sales_client.get(f"/admin/customers/customer/{customers[1].pk}/change/").status_code == 200


def test_the_change_page_shows_the_timeline_and_writes_through_the_services(ops_client, customers):
    customer = customers[0]
    timeline_note_add(customer=customer, text="回访约在周五", author=None)
    stage = OpportunityStage.objects.get(name="需求确认")
    page = ops_client.get(f"/admin/customers/customer/{customer.pk}/change/")
    assert "回访约在周五" in page.content.decode()
    assert "13812345678" not in page.content.decode()

    response = ops_client.post(
        f"/admin/customers/customer/{customer.pk}/change/",
        {
            "name": "王芳芳",
            "owner": "",
            "lifecycle_stage": "trial",
            "opportunity_stage": stage.pk,
            "referred_by": "",
            **NO_INLINE_CHANGES,
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    customer.refresh_from_db()
    assert (customer.name, customer.lifecycle_stage, customer.opportunity_stage) == ("王芳芳", "trial", stage)
    assert sorted(StageChange.objects.values_list("pipeline", flat=True)) == ["lifecycle", "opportunity"]
    assert sorted(AuditLog.objects.filter(target_id=str(customer.pk)).values_list("action", flat=True)) == [
        "create",
        "set_lifecycle",
        "set_opportunity",
        "update",
    ]


def test_adding_with_an_invalid_phone_names_the_field_and_stores_nothing(ops_client):
    response = ops_client.post(
        "/admin/customers/customer/add/", {"name": "新客户", "phone": "12345", **NO_INLINE_CHANGES}
    )

    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    assert Customer.objects.count() == 0


def test_adding_a_customer_normalizes_the_phone(ops_client):
    response = ops_client.post(
        "/admin/customers/customer/add/", {"name": "新客户", "phone": "139 0000 2222", **NO_INLINE_CHANGES}
    )

    assert response.status_code == 302
    assert Customer.objects.get().phone == "+8613900002222"


def test_revealing_the_full_number_is_audited_and_refused_to_sales(ops_client, sales_user, customers):
    customer = customers[1]
    response = ops_client.get(f"/admin/customers/customer/{customer.pk}/phone/")
    assert response.status_code == 200
    assert "13900001111" in response.content.decode()
    assert AuditLog.objects.filter(action="view_full_phone").count() == 1

    ops_client.force_login(sales_user)
    assert ops_client.get(f"/admin/customers/customer/{customer.pk}/phone/").status_code == 403
    assert AuditLog.objects.filter(action="view_full_phone").count() == 1


def test_the_merge_action_confirms_then_merges_into_the_chosen_customer(ops_client, customers):
    keep, other = customers[2], customers[1]
    url = "/admin/customers/customer/"
    selected = {"action": "merge_customers", "_selected_action": [keep.pk, other.pk]}

    confirm = ops_client.post(url, selected)
    assert confirm.status_code == 200 and "韩梅梅" in confirm.content.decode()
    assert CustomerMerge.objects.count() == 0

    done = ops_client.post(url, {**selected, "confirm": "yes", "into": keep.pk, "reason": "同一人"})

    assert done.status_code == 302
    merge = CustomerMerge.objects.get()
    assert (merge.into_id, merge.other_id, merge.reason) == (keep.pk, other.pk, "同一人")
    assert Customer.objects.get(pk=keep.pk).phone == "+8613900001111"
    assert ops_client.get(f"/admin/customers/customermerge/{merge.pk}/change/").status_code == 200


def test_merging_needs_exactly_two(ops_client, customers):
    ops_client.post("/admin/customers/customer/", {"action": "merge_customers", "_selected_action": [customers[0].pk]})

    assert CustomerMerge.objects.count() == 0
    assert Customer.objects.count() == 3


def test_the_audit_log_is_viewable_not_editable(ops_client, customers):
    entry = AuditLog.objects.first()

    assert ops_client.get("/admin/core/auditlog/").status_code == 200
    assert ops_client.get(f"/admin/core/auditlog/{entry.pk}/change/").status_code == 200
    assert ops_client.post(f"/admin/core/auditlog/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditLog.objects.filter(pk=entry.pk).exists()


def test_ops_link_a_login_to_its_employee_and_only_the_login_is_editable(ops_client, make_user, customers):
    follow_relation_upsert(userid="sales2", external_userid="wmWang", remark_mobiles=["13812345678"])
    employee = Employee.objects.get(userid="sales2")
    login = make_user("wang.sales", role=SALES, is_staff=True)
    url = f"/admin/customers/employee/{employee.pk}/change/"

    response = ops_client.post(url, {"user": login.pk, "name": "改不了"})

    assert response.status_code == 302
    employee.refresh_from_db()
    assert (employee.user, employee.name) == (login, "")
    assert AuditLog.objects.get(action="link_user").changes == {"user": ["", "wang.sales"]}
    ops_client.force_login(login)
    assert names(ops_client.get("/admin/customers/customer/")) == {"王芳"}
