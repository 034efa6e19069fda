"""scrm.core.upsert: the shared find-or-create, write-what-differs and WeCom value parsers."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, transaction
from django.db.models.query import QuerySet
from django.utils import translation

from customers.models import Employee, ExternalContact, FollowRelation
from scrm.core.upsert import (
    as_int,
    as_text,
    given,
    insert_rows,
    lock_or_create,
    require_id,
    update_changed,
    update_rows,
    wecom_time,
)
from tagging.models import Tag, TagGroup

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):  # assert on the source messages, not the zh-hans default
        yield


# ---- lock_or_create ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("lock", [True, False])
def test_lock_or_create_creates_from_lookup_and_defaults(lock):
    tag, created = lock_or_create(Tag, lookup={"tag_id": "etT1"}, defaults={"name": "A类客户"}, lock=lock)

    assert created is True
    assert Tag.objects.get().pk == tag.pk
    assert (tag.tag_id, tag.name) == ("etT1", "A类客户")


@pytest.mark.django_db
@pytest.mark.parametrize("lock", [True, False])
def test_lock_or_create_returns_existing_row_and_ignores_defaults(lock):
    existing = Tag.objects.create(tag_id="etT1", name="A类客户")

    tag, created = lock_or_create(Tag, lookup={"tag_id": "etT1"}, defaults={"name": "other"}, lock=lock)

    assert created is False
    assert tag.pk == existing.pk
    assert tag.name == "A类客户"
    assert Tag.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("lock", [True, False])
def test_lock_or_create_loses_a_concurrent_insert_and_reads_the_winner(monkeypatch, lock):
    # Another transaction inserted the key between our lookup and our insert: the first get misses, the insert
    # hits the unique constraint, and the winner's row comes back instead of an IntegrityError.
    winner = Tag.objects.create(tag_id="etT1", name="winner")
    real_get = QuerySet.get
    lookups = []

    def racing_get(self, *args, **kwargs):
        lookups.append(kwargs)
        if len(lookups) == 1:
            raise self.model.DoesNotExist
        return real_get(self, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "get", racing_get)

    tag, created = lock_or_create(Tag, lookup={"tag_id": "etT1"}, defaults={"name": "loser"}, lock=lock)

    assert created is False
    assert tag.pk == winner.pk
    assert tag.name == "winner"
    assert lookups == [{"tag_id": "etT1"}, {"tag_id": "etT1"}]
    monkeypatch.undo()
    assert list(Tag.objects.values_list("tag_id", "name")) == [("etT1", "winner")]  # savepoint: still usable


@pytest.mark.django_db
def test_lock_or_create_validates_a_new_row_and_saves_nothing_when_invalid():
    with pytest.raises(ValidationError) as excinfo:
        lock_or_create(Tag, lookup={"tag_id": "etT1"}, defaults={"name": "x" * 256})

    assert set(excinfo.value.message_dict) == {"name"}
    assert Tag.objects.count() == 0


# ---- update_changed ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_update_changed_with_nothing_different_saves_nothing(django_assert_num_queries):
    group = TagGroup.objects.create(group_id="etG1", name="客户等级", order=3)
    updated_at = group.updated_at

    with django_assert_num_queries(0):
        changed = update_changed(group, {"name": "客户等级", "order": 3})

    assert changed == []
    group.refresh_from_db()
    assert group.updated_at == updated_at


@pytest.mark.django_db
def test_update_changed_writes_only_the_differing_fields_and_updated_at(django_assert_num_queries):
    group = TagGroup.objects.create(group_id="etG1", name="客户等级", order=3)
    TagGroup.objects.filter(pk=group.pk).update(order=9)  # a concurrent write to a field we do not change
    updated_at = group.updated_at

    with django_assert_num_queries(1):
        changed = update_changed(group, {"name": "新等级", "order": 3})

    assert changed == ["name"]
    group.refresh_from_db()
    assert (group.name, group.order) == ("新等级", 9)
    assert group.updated_at > updated_at


@pytest.mark.django_db
def test_update_changed_validates_before_saving():
    group = TagGroup.objects.create(group_id="etG1", name="客户等级")

    with pytest.raises(ValidationError):
        update_changed(group, {"name": "x" * 256})

    group.refresh_from_db()
    assert group.name == "客户等级"


# ---- parsers -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, "0", "", None])
def test_wecom_time_of_zero_or_empty_is_unknown(value):
    assert wecom_time(value, field="create_time") is None


@pytest.mark.parametrize("value", [1700000000, "1700000000"])
def test_wecom_time_is_an_aware_datetime_in_the_current_time_zone(settings, value):
    settings.TIME_ZONE = "Asia/Shanghai"

    result = wecom_time(value, field="create_time")

    assert result == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert result.tzinfo == SHANGHAI
    assert result.utcoffset() == timedelta(hours=8)
    assert result.replace(tzinfo=None) == datetime(2023, 11, 15, 6, 13, 20)


def test_wecom_time_of_garbage_names_the_field():
    with pytest.raises(ValidationError) as excinfo:
        wecom_time("yesterday", field="createtime")

    assert excinfo.value.message_dict == {"createtime": ["Expected a whole number."]}


def test_given_drops_only_none():
    assert given(a=None, b="", c=0, d=False, e=[]) == {"b": "", "c": 0, "d": False, "e": []}


@pytest.mark.parametrize("value", ["", None])
def test_require_id_refuses_an_empty_id(value):
    with pytest.raises(ValidationError) as excinfo:
        require_id(value, "userid")

    assert excinfo.value.message_dict == {"userid": ["This WeCom id is required."]}


def test_require_id_accepts_an_id():
    assert require_id("zhangsan", "userid") is None


@pytest.mark.parametrize(("value", "expected"), [(None, ""), ("  wmABC \n", "wmABC"), (42, "42"), ("", "")])
def test_as_text(value, expected):
    assert as_text(value) == expected


@pytest.mark.parametrize(("value", "expected"), [(3, 3), ("3", 3), (" 7 ", 7)])
def test_as_int(value, expected):
    assert as_int(value, "order") == expected


@pytest.mark.parametrize("value", [None, "", "3.5", "abc", [1]])
def test_as_int_refuses_non_numbers(value):
    with pytest.raises(ValidationError) as excinfo:
        as_int(value, "order")

    assert excinfo.value.message_dict == {"order": ["Expected a whole number."]}


# ---- insert_rows ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_insert_rows_stores_what_bulk_create_stores(django_assert_num_queries):
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    employee = Employee.objects.create(userid="zhangsan")
    contacts = insert_rows(
        ExternalContact,
        [{"external_userid": "wmA", "name": "王芳", "type": 1, "synced_at": at}, {"external_userid": "wmB"}],
        key="external_userid",
    )
    with django_assert_num_queries(1):
        assert (
            insert_rows(
                FollowRelation,
                [{"employee_id": employee.pk, "contact_id": contacts["wmA"], "remark_mobiles": ["+8613800138000"]}],
            )
            == {}
        )

    a, b = ExternalContact.objects.get(external_userid="wmA"), ExternalContact.objects.get(external_userid="wmB")
    assert contacts == {"wmA": a.pk, "wmB": b.pk}
    assert (a.name, a.type, a.gender, a.synced_at, a.corp_name) == ("王芳", 1, 0, at, "")
    assert (b.name, b.type, b.synced_at) == ("", None, None)  # the fields' defaults
    assert a.created_at > at and a.updated_at - a.created_at < timedelta(seconds=1)  # auto_now(_add): now
    relation = FollowRelation.objects.get()
    assert (relation.employee_id, relation.contact_id) == (employee.pk, a.pk)
    assert (relation.remark_mobiles, relation.wecom_tag_ids, relation.status) == (["+8613800138000"], [], "active")


@pytest.mark.django_db
@pytest.mark.postgres  # SQLite does not enforce lengths; validating first is the caller's job
def test_insert_rows_refuses_a_value_too_long_for_its_column_instead_of_cutting_it():
    with pytest.raises(DataError), transaction.atomic():
        insert_rows(ExternalContact, [{"external_userid": "wm" + "x" * 100}], key="external_userid")

    assert not ExternalContact.objects.exists()


@pytest.mark.django_db
def test_insert_rows_of_nothing_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert insert_rows(ExternalContact, [], key="external_userid") == {}


@pytest.mark.django_db
def test_insert_rows_keyed_by_pk_returns_the_new_ids_in_row_order():
    ids = insert_rows(ExternalContact, [{"external_userid": f"wm{n}"} for n in range(5)], key="pk")

    assert list(ids.values()) == [ExternalContact.objects.get(external_userid=f"wm{n}").pk for n in range(5)]


@pytest.mark.django_db
def test_update_rows_sets_each_rows_own_values_in_one_statement(django_assert_num_queries):
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    ids = insert_rows(ExternalContact, [{"external_userid": f"wm{n}"} for n in range(3)], key="external_userid")
    untouched = ExternalContact.objects.get(external_userid="wm2").updated_at

    with django_assert_num_queries(1):
        update_rows(
            ExternalContact,
            {
                ids["wm0"]: {"name": "王芳", "synced_at": at, "type": 1},
                ids["wm1"]: {"name": "李雷", "synced_at": None, "type": None},
            },
        )

    rows = {c.external_userid: (c.name, c.synced_at, c.type) for c in ExternalContact.objects.all()}
    assert rows == {"wm0": ("王芳", at, 1), "wm1": ("李雷", None, None), "wm2": ("", None, None)}
    assert ExternalContact.objects.get(external_userid="wm2").updated_at == untouched
    with django_assert_num_queries(0):
        update_rows(ExternalContact, {})
