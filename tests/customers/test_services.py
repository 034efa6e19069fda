"""customers services: idempotent upserts from WeCom's detail shapes, placeholders, relation status changes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from customers.models import Employee, ExternalContact, FollowRelation
from customers.services import (
    FollowChange,
    employee_mark_resigned,
    employee_upsert,
    external_contact_upsert_from_wecom,
    external_contacts_upsert_from_wecom,
    follow_relation_mark,
    follow_relation_upsert,
    follow_relations_apply,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
EXT = "wmEXT0001"

CONTACT = {
    "external_userid": EXT,
    "name": "王芳",
    "avatar": "http://wx.qlogo.cn/mmhead/abc/0",
    "type": 1,
    "gender": 2,
    "unionid": "oUNION1",
}


def get_detail(**contact):
    """externalcontact/get: follow_user is a list, tags are objects (personal tags have no tag_id)."""
    return {
        "errcode": 0,
        "errmsg": "ok",
        "external_contact": {**CONTACT, **contact},
        "follow_user": [
            {
                "userid": "zhangsan",
                "remark": "王芳-会员",
                "description": "年卡",
                "createtime": 1709283600,
                "tags": [
                    {"group_name": "客户等级", "tag_name": "A类客户", "type": 1, "tag_id": "etA"},
                    {"group_name": "", "tag_name": "我的标签", "type": 2},
                ],
                "remark_corp_name": "",
                "remark_mobiles": ["13800130000"],
                "oper_userid": EXT,
                "add_way": 1,
                "state": "store-001",
            },
            {
                "userid": "lisi",
                "remark": "",
                "description": "",
                "createtime": 1709287200,
                "tags": [],
                "remark_mobiles": [],
                "add_way": 0,
            },
        ],
        "next_cursor": "",
    }


def batch_item(**follow):
    """One item of batch/get_by_user: follow_info is one object with a tag_id list; WeCom has returned gender as
    a string and null corp fields here."""
    return {
        "external_contact": {**CONTACT, "gender": "2", "position": None, "corp_name": None},
        "follow_info": {
            "userid": "zhangsan",
            "remark": "王芳-会员",
            "description": "年卡",
            "createtime": 1709283600,
            "tag_id": ["etA", "etB"],
            "remark_corp_name": "",
            "remark_mobiles": ["13800130000"],
            "add_way": 1,
            "state": "store-001",
            **follow,
        },
    }


def snapshot():
    rows = []
    for model in (Employee, ExternalContact, FollowRelation):
        rows += [(model.__name__, row) for row in model.objects.order_by("pk").values()]
    return rows


# ---- employees ---------------------------------------------------------------------------------------------------


def test_employee_upsert_creates_then_updates_only_what_is_given():
    placeholder = employee_upsert(userid="zhangsan")
    assert (placeholder.name, placeholder.status, placeholder.department_ids) == ("", "active", [])

    employee_upsert(userid="zhangsan", name="张三", department_ids=[2], avatar="http://a/0")
    employee_upsert(userid="zhangsan")  # an event that knows only the id blanks nothing

    employee = Employee.objects.get()
    assert (employee.name, employee.department_ids, employee.avatar) == ("张三", [2], "http://a/0")


def test_employee_upsert_twice_changes_nothing():
    employee_upsert(userid="zhangsan", name="张三", department_ids=[2, 3])
    before = snapshot()

    employee_upsert(userid="zhangsan", name="张三", department_ids=[2, 3])

    assert snapshot() == before  # updated_at included


def test_employee_mark_resigned():
    employee_upsert(userid="zhaoliu", name="赵六")

    employee_mark_resigned(userid="zhaoliu")

    assert Employee.objects.get().status == Employee.Status.RESIGNED


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"userid": ""}, "userid"), ({"userid": "u1", "department_ids": ["sales"]}, "department_ids")],
)
def test_employee_upsert_refuses_bad_data(kwargs, field):
    with pytest.raises(ValidationError) as error:
        employee_upsert(**kwargs)

    assert field in error.value.message_dict
    assert Employee.objects.count() == 0


# ---- external contacts from WeCom --------------------------------------------------------------------------------


def test_upsert_from_externalcontact_get_shape():
    contact = external_contact_upsert_from_wecom(detail=get_detail())

    assert (ExternalContact.objects.count(), Employee.objects.count(), FollowRelation.objects.count()) == (1, 2, 2)
    assert (contact.name, contact.type, contact.gender, contact.unionid) == ("王芳", 1, 2, "oUNION1")
    assert contact.synced_at is not None
    assert set(Employee.objects.values_list("userid", "name")) == {("zhangsan", ""), ("lisi", "")}
    zhang = FollowRelation.objects.get(employee__userid="zhangsan")
    assert zhang.remark == "王芳-会员"
    assert zhang.description == "年卡"
    assert zhang.remark_mobiles == ["13800130000"]
    assert zhang.wecom_tag_ids == ["etA"]  # the personal tag has no id
    assert zhang.personal_tags == ["我的标签"]  # only its name
    assert (zhang.add_way, zhang.state, zhang.status) == (1, "store-001", "active")
    assert zhang.added_at == datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    lisi = FollowRelation.objects.get(employee__userid="lisi")
    assert (lisi.state, lisi.add_way, lisi.wecom_tag_ids, lisi.personal_tags) == ("", 0, [], [])


def test_upsert_from_batch_get_by_user_shape():
    external_contact_upsert_from_wecom(detail=batch_item())

    contact = ExternalContact.objects.get()
    relation = FollowRelation.objects.select_related("employee").get()
    assert (contact.gender, contact.position, contact.corp_name) == (2, "", "")
    assert relation.employee.userid == "zhangsan"
    assert relation.wecom_tag_ids == ["etA", "etB"]
    assert relation.added_at == datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def test_batch_get_by_user_knows_no_personal_tags_and_leaves_them_as_they_are():
    external_contact_upsert_from_wecom(detail=get_detail())

    external_contact_upsert_from_wecom(detail=batch_item())

    relation = FollowRelation.objects.get(employee__userid="zhangsan")
    assert (relation.wecom_tag_ids, relation.personal_tags) == (["etA", "etB"], ["我的标签"])


def test_batch_item_without_userid_uses_the_employee_it_was_fetched_for():
    item = batch_item()
    del item["follow_info"]["userid"]

    with pytest.raises(ValidationError) as error:
        external_contact_upsert_from_wecom(detail=item)
    assert "userid" in error.value.message_dict
    assert FollowRelation.objects.count() == 0

    external_contact_upsert_from_wecom(detail=item, follow_userid="zhangsan")
    assert FollowRelation.objects.get().employee.userid == "zhangsan"


@pytest.mark.parametrize("detail", [get_detail(), batch_item()], ids=["get", "batch"])
def test_upsert_from_wecom_twice_changes_nothing(detail):
    external_contact_upsert_from_wecom(detail=detail)
    before = snapshot()

    external_contact_upsert_from_wecom(detail=detail)

    assert snapshot() == before


def test_upsert_from_wecom_updates_changed_fields_and_fills_a_placeholder():
    follow_relation_upsert(userid="zhangsan", external_userid=EXT, at=T0, state="store-001")
    placeholder = ExternalContact.objects.get()
    assert placeholder.is_placeholder

    external_contact_upsert_from_wecom(detail=get_detail(name="王芳芳"))

    contact = ExternalContact.objects.get()
    assert (contact.name, contact.is_placeholder) == ("王芳芳", False)
    assert FollowRelation.objects.count() == 2
    assert FollowRelation.objects.get(employee__userid="zhangsan").remark == "王芳-会员"


def test_relations_missing_from_a_detail_are_left_alone():
    external_contact_upsert_from_wecom(detail=get_detail())
    only_zhang = get_detail()
    only_zhang["follow_user"] = only_zhang["follow_user"][:1]

    external_contact_upsert_from_wecom(detail=only_zhang)

    assert set(FollowRelation.objects.values_list("employee__userid", "status")) == {
        ("zhangsan", "active"),
        ("lisi", "active"),
    }


def test_a_detail_listing_a_deleted_relation_makes_it_active_again():
    follow_relation_mark(
        userid="zhangsan", external_userid=EXT, status=FollowRelation.Status.DELETED_BY_CUSTOMER, at=T0
    )

    external_contact_upsert_from_wecom(detail=batch_item())

    assert FollowRelation.objects.get().status == "active"


@pytest.mark.parametrize(
    ("detail", "field"),
    [
        ({}, "external_contact"),
        ({"external_contact": "wm1"}, "external_contact"),
        ({"external_contact": {"name": "无 id"}}, "external_userid"),
        ({"external_contact": {**CONTACT, "gender": "female"}}, "gender"),
        ({"external_contact": {**CONTACT, "type": 7}}, "type"),
        ({"external_contact": CONTACT, "follow_user": [{"userid": "u1", "createtime": "yesterday"}]}, "createtime"),
        ({"external_contact": CONTACT, "follow_user": [{"userid": "u1", "remark_mobiles": "138"}]}, "remark_mobiles"),
        ({"external_contact": CONTACT, "follow_user": {"userid": "u1"}}, "follow_user"),
        ({"external_contact": CONTACT, "follow_user": [{"userid": "u1", "tag_id": "etA"}]}, "tag_id"),
        ({"external_contact": CONTACT, "follow_info": [{"userid": "u1"}]}, "follow_info"),
    ],
)
def test_bad_wecom_data_is_refused_naming_the_field_and_nothing_is_written(detail, field):
    with pytest.raises(ValidationError) as error:
        external_contact_upsert_from_wecom(detail=detail)

    assert field in error.value.message_dict
    assert snapshot() == []


def test_a_bad_follow_rolls_back_the_whole_detail():
    detail = get_detail()
    detail["follow_user"][1]["add_way"] = "scan"

    with pytest.raises(ValidationError, match="add_way"):
        external_contact_upsert_from_wecom(detail=detail)

    assert snapshot() == []


# ---- a page at a time (the full sync's path) --------------------------------------------------------------------

MOMENTS = {"id", "created_at", "updated_at", "synced_at", "status_changed_at", "employee_id", "contact_id"}


def content():
    """The rows without ids and times: what the single-item and the bulk path must agree on."""
    return sorted((name, sorted((k, repr(v)) for k, v in row.items() if k not in MOMENTS)) for name, row in snapshot())


def page_of(count, *, shared_every=3):
    """``count`` batch items for wmP000…; every ``shared_every``-th contact is also followed by lisi."""
    items = []
    for n in range(count):
        contact = {**CONTACT, "external_userid": f"wmP{n:04d}", "name": f"客户{n}", "gender": str(n % 3)}
        mobiles = [f"1380013{n:04d}"]  # each contact its own number (one number would merge them all)
        items.append(
            {**batch_item(remark=f"r{n}", tag_id=[f"et{n % 4}"], remark_mobiles=mobiles), "external_contact": contact}
        )
        if n % shared_every == 0:
            items.append({**batch_item(userid="lisi", remark=""), "external_contact": contact})
    return items


def test_a_bulk_page_stores_what_the_single_item_path_stores():
    items = [*page_of(20), get_detail()]
    for item in items:
        external_contact_upsert_from_wecom(detail=item)
    one_by_one = content()
    for model in (FollowRelation, ExternalContact, Employee):
        model.objects.all().delete()

    counts = external_contacts_upsert_from_wecom(details=items)

    assert content() == one_by_one
    assert counts == {"contacts_created": 21, "contacts_updated": 0, "relations_created": 29, "relations_updated": 0}
    assert ExternalContact.objects.filter(synced_at__isnull=True).count() == 0


def test_a_bulk_page_takes_a_fixed_number_of_queries(django_assert_max_num_queries):
    external_contacts_upsert_from_wecom(details=page_of(10))

    # not one per item: 100 items, a few statements, + the subscriber that sets the customers' WeCom tags (up to 9)
    with django_assert_max_num_queries(14 + 9):
        external_contacts_upsert_from_wecom(details=page_of(100))

    assert (ExternalContact.objects.count(), FollowRelation.objects.count()) == (100, 134)


def test_a_bulk_page_applied_twice_changes_nothing(django_assert_max_num_queries):
    external_contacts_upsert_from_wecom(details=page_of(30))
    before = snapshot()

    # reads only (+ the tag subscriber's 4): nothing differs, so nothing is written
    with django_assert_max_num_queries(7 + 4):
        counts = external_contacts_upsert_from_wecom(details=page_of(30))

    assert snapshot() == before  # updated_at included
    assert counts == {"contacts_created": 0, "contacts_updated": 0, "relations_created": 0, "relations_updated": 0}


def test_a_bulk_page_updates_only_the_rows_that_changed():
    external_contacts_upsert_from_wecom(details=page_of(10))
    before = {row["external_userid"]: row for row in ExternalContact.objects.values()}
    items = page_of(10)
    assert items[2]["external_contact"]["external_userid"] == "wmP0001"  # followed by zhangsan only
    items[2]["external_contact"] = {**items[2]["external_contact"], "name": "新名字"}
    items[2]["follow_info"] = {**items[2]["follow_info"], "remark": "新备注"}

    counts = external_contacts_upsert_from_wecom(details=items)

    after = {row["external_userid"]: row for row in ExternalContact.objects.values()}
    assert counts == {"contacts_created": 0, "contacts_updated": 1, "relations_created": 0, "relations_updated": 1}
    assert after["wmP0001"]["name"] == "新名字" and after["wmP0001"]["updated_at"] > before["wmP0001"]["updated_at"]
    assert all(after[key] == before[key] for key in before if key != "wmP0001")
    relation = FollowRelation.objects.get(contact__external_userid="wmP0001", employee__userid="zhangsan")
    assert relation.remark == "新备注"


def test_a_bulk_page_reactivates_a_deleted_relation_and_fills_placeholders():
    follow_relation_mark(
        userid="zhangsan", external_userid=EXT, status=FollowRelation.Status.DELETED_BY_CUSTOMER, at=T0
    )
    assert ExternalContact.objects.get().is_placeholder

    external_contacts_upsert_from_wecom(details=[batch_item()])

    relation = FollowRelation.objects.select_related("contact").get()
    assert relation.status == "active" and relation.contact.name == "王芳" and not relation.contact.is_placeholder


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"external_contact": {**CONTACT, "external_userid": "wmBAD", "type": 7}}, "type"),
        (
            {"external_contact": {**CONTACT, "external_userid": "wmBAD"}, "follow_info": {"remark": "无 userid"}},
            "userid",
        ),
        (batch_item(add_way="scan"), "add_way"),
        (batch_item(state="x" * 65), "state"),
        ({"external_contact": {**CONTACT, "external_userid": "wm" + "x" * 63}}, "external_userid"),
        (batch_item(userid="u" * 65), "userid"),
    ],
)
def test_one_bad_item_refuses_the_whole_page(bad, field):
    with pytest.raises(ValidationError) as error:
        external_contacts_upsert_from_wecom(details=[*page_of(5), bad])

    assert field in error.value.message_dict
    assert snapshot() == []


def test_a_concurrent_insert_sends_the_page_down_the_single_item_path(monkeypatch):
    from customers.services import wecom as services

    # Another writer (a callback) commits wmP0000 after the page read its contacts: the read does not see it,
    # the bulk insert then hits the unique key, and the page is applied item by item instead.
    external_contact_upsert_from_wecom(detail={"external_contact": {"external_userid": "wmP0000"}})
    read_before_it = ExternalContact.objects.exclude(external_userid="wmP0000")
    real = services._bulk_upsert

    def racing(**kwargs):
        with monkeypatch.context() as patch:
            patch.setattr(ExternalContact.objects, "select_for_update", read_before_it.select_for_update)
            return real(**kwargs)

    monkeypatch.setattr(services, "_bulk_upsert", racing)

    counts = external_contacts_upsert_from_wecom(details=page_of(4))

    assert counts == {"one_by_one": 6}
    assert (ExternalContact.objects.count(), FollowRelation.objects.count()) == (4, 6)
    assert ExternalContact.objects.get(external_userid="wmP0000").name == "客户0"


# ---- follow relations --------------------------------------------------------------------------------------------


def test_follow_relation_upsert_creates_placeholders_and_an_active_relation():
    relation = follow_relation_upsert(userid="zhangsan", external_userid=EXT, at=T0, added_at=T0, state="live-0315")

    assert (Employee.objects.count(), ExternalContact.objects.count(), FollowRelation.objects.count()) == (1, 1, 1)
    assert (relation.status, relation.status_changed_at, relation.state) == ("active", T0, "live-0315")


def test_state_longer_than_wecom_limit_for_our_codes_is_still_stored():
    state = "x" * 64

    relation = follow_relation_upsert(userid="zhangsan", external_userid=EXT, at=T0, state=state)

    assert relation.state == state
    with pytest.raises(ValidationError, match="state"):
        follow_relation_upsert(userid="zhangsan", external_userid=EXT, at=T0, state=state + "x")


@pytest.mark.parametrize(
    "status", [FollowRelation.Status.DELETED_BY_CUSTOMER, FollowRelation.Status.DELETED_BY_EMPLOYEE]
)
def test_mark_keeps_the_row_and_is_idempotent(status):
    follow_relation_upsert(userid="zhangsan", external_userid=EXT, at=T0)
    at = T0 + timedelta(days=1)

    follow_relation_mark(userid="zhangsan", external_userid=EXT, status=status, at=at)
    before = snapshot()
    follow_relation_mark(userid="zhangsan", external_userid=EXT, status=status, at=at + timedelta(hours=1))

    assert snapshot() == before
    relation = FollowRelation.objects.get()
    assert (relation.status, relation.status_changed_at) == (status, at)


def test_mark_of_an_unknown_relation_records_it_as_ended():
    follow_relation_mark(
        userid="zhangsan", external_userid=EXT, status=FollowRelation.Status.DELETED_BY_EMPLOYEE, at=T0
    )

    relation = FollowRelation.objects.get()
    assert (relation.status, relation.status_changed_at, relation.added_at) == ("deleted_by_employee", T0, None)


def test_mark_refuses_active_as_a_status():
    with pytest.raises(ValidationError) as error:
        follow_relation_mark(userid="zhangsan", external_userid=EXT, status=FollowRelation.Status.ACTIVE, at=T0)

    assert "status" in error.value.message_dict
    assert snapshot() == []


def test_re_add_after_delete_reactivates():
    follow_relation_upsert(userid="zhangsan", external_userid=EXT, at=T0)
    follow_relation_mark(
        userid="zhangsan", external_userid=EXT, status=FollowRelation.Status.DELETED_BY_CUSTOMER, at=T0 + timedelta(1)
    )

    follow_relation_upsert(userid="zhangsan", external_userid=EXT, at=T0 + timedelta(2))

    relation = FollowRelation.objects.get()
    assert (relation.status, relation.status_changed_at) == ("active", T0 + timedelta(2))


def test_out_of_order_news_does_not_undo_a_newer_change():
    # The add (day 0) is retried and lands after the deletion (day 1) was applied: the contact stays deleted.
    follow_relation_mark(
        userid="zhangsan", external_userid=EXT, status=FollowRelation.Status.DELETED_BY_CUSTOMER, at=T0 + timedelta(1)
    )
    follow_relation_upsert(userid="zhangsan", external_userid=EXT, at=T0)
    assert FollowRelation.objects.get().status == "deleted_by_customer"

    # A re-add (day 3) applied before an old deletion by the employee (day 2): still active.
    follow_relation_upsert(userid="zhangsan", external_userid=EXT, at=T0 + timedelta(3))
    follow_relation_mark(
        userid="zhangsan", external_userid=EXT, status=FollowRelation.Status.DELETED_BY_EMPLOYEE, at=T0 + timedelta(2)
    )
    relation = FollowRelation.objects.get()
    assert (relation.status, relation.status_changed_at) == ("active", T0 + timedelta(3))


# ---- follow_relations_apply: what follow_relation_upsert / follow_relation_mark do, a list at a time -------------

DEL_C, DEL_E = FollowRelation.Status.DELETED_BY_CUSTOMER, FollowRelation.Status.DELETED_BY_EMPLOYEE
H = timedelta(hours=1)


def with_status_times():
    return sorted(
        (row["status"], row["status_changed_at"], row["state"], row["added_at"])
        for row in FollowRelation.objects.values()
    )


MIXED = [
    FollowChange("zhangsan", "wmA", T0, values={"added_at": T0, "state": "store-1"}),  # new, then deleted
    FollowChange("zhangsan", "wmA", T0 + H, status=DEL_C),
    FollowChange("lisi", "wmB", T0 + 2 * H, status=DEL_E),  # never seen: recorded as ended
    FollowChange("lisi", "wmB", T0 + H),  # older than the deletion: ignored
    FollowChange("wangwu", "wmC", T0),  # an edit of an unknown relation: created active
    FollowChange("wangwu", "wmC", T0 + 3 * H, status=DEL_C),
    FollowChange("wangwu", "wmC", T0 + 4 * H, values={"added_at": T0, "state": "again"}),  # re-added
]


@pytest.mark.parametrize("existing", [False, True], ids=["new rows", "existing rows"])
def test_follow_relations_apply_applies_each_change_in_order(existing):
    if existing:  # the same changes against relations that already exist and are active
        follow_relations_apply(
            changes=[FollowChange("zhangsan", "wmA", T0 - timedelta(1)), FollowChange("lisi", "wmB", T0)]
        )

    relations = follow_relations_apply(changes=MIXED)

    assert with_status_times() == [
        ("active", T0 + 4 * H, "again", T0),
        (DEL_C, T0 + H, "store-1", T0),
        (DEL_E, T0 + 2 * H, "", None),
    ]
    assert (Employee.objects.count(), ExternalContact.objects.count(), FollowRelation.objects.count()) == (3, 3, 3)
    assert [(r.employee.userid, r.contact.external_userid, r.status) for r in relations[1::2]] == [
        ("zhangsan", "wmA", DEL_C),
        ("lisi", "wmB", DEL_E),
        ("wangwu", "wmC", "active"),
    ]  # each change's relation, as it stands at the end of the list (wmC was re-added after its deletion)


def test_follow_relations_apply_takes_a_fixed_number_of_queries(django_assert_max_num_queries):
    changes = [FollowChange(f"u{n % 5}", f"wm{n}", T0, status=DEL_C) for n in range(100)]

    # not one per change (SQLite splits the bulk writes in batches), + the tag subscriber's reads (4)
    with django_assert_max_num_queries(16 + 4):
        follow_relations_apply(changes=changes)

    assert (Employee.objects.count(), ExternalContact.objects.count()) == (5, 100)
    assert FollowRelation.objects.filter(status=DEL_C, status_changed_at=T0).count() == 100


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (FollowChange("", "wmX", T0), "userid"),
        (FollowChange("zhangsan", "wm" + "x" * 63, T0), "external_userid"),
        (FollowChange("zhangsan", "wmX", T0, values={"state": "s" * 65}), "state"),
        (FollowChange("zhangsan", "wmX", T0, status="active-ish"), "status"),
    ],
)
def test_follow_relations_apply_refuses_a_bad_change_and_writes_nothing(bad, field):
    with pytest.raises(ValidationError) as error:
        follow_relations_apply(changes=[FollowChange("zhangsan", "wmA", T0), bad])

    assert field in error.value.message_dict
    assert snapshot() == []
