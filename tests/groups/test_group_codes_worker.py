"""The whole path with a real Celery worker: customers scan the code's join_way in the simulator, its signed
callbacks reach the app over its callback view, and the worker drains them, reads the groups, moves the join_way
on and tags the joiners."""

import pytest

from customers.models import ExternalContact
from groups.services.group_codes import group_code_create
from tagging.models import CustomerTag
from tests.groups.group_code_fixtures import (  # noqa: F401 - fixtures
    alerts,
    code_groups,
    code_tags_fixture,
    fresh,
    load,
    sim_fixture,
    sim_group,
    way,
)
from tests.helpers import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def test_a_worker_moves_the_code_on_alerts_once_and_tags_every_joiner(sim, code_tags, post_callback):
    chats = [sim_group(sim, "一群"), sim_group(sim, "二群")]
    tag = code_tags["扫码入群"]
    code = group_code_create(
        name="门店群活码", groups=load(*chats), threshold=3, auto_create_room=False, tag_ids=[tag.pk], actor=None
    )
    assert wait_until(lambda: fresh(code).wecom_sync == "synced"), fresh(code).wecom_error
    assert way(sim, code)["chat_id_list"] == chats

    joiners = []
    for n in range(4):
        ext = sim.customer_adds_employee("lisi", name=f"客户{n}")["external_userid"]
        assert post_callback(sim.callbacks[-1]["xml"]).status_code == 200
        assert wait_until(lambda ext=ext: ExternalContact.objects.filter(external_userid=ext, customer__isnull=False))
        sim.customer_scans_join_way(fresh(code).config_id, ext)
        assert post_callback(sim.callbacks[-1]["xml"]).status_code == 200
        joiners.append(ext)
        if n == 1:
            assert wait_until(lambda: way(sim, code)["chat_id_list"] == [chats[1]])
            assert fresh(code).wecom_chat_ids == [chats[1]]

    assert wait_until(lambda: fresh(code).status == "full", timeout=60)
    assert code_groups(fresh(code)) == [(chats[0], True, False), (chats[1], True, False)]
    assert alerts(code) == 1
    customers = sorted(
        ExternalContact.objects.filter(external_userid__in=joiners).values_list("customer_id", flat=True)
    )
    assert wait_until(
        lambda: sorted(CustomerTag.objects.filter(tag=tag).values_list("customer_id", flat=True)) == customers
    )
    assert len(customers) == 4
