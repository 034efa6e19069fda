"""Fixtures for the taxonomy tests: the session simulator (reset), its corp tag library synced into the database,
Celery tasks run in-process, and helpers to push a row and to look at the simulator's tags."""

from datetime import timedelta

import pytest
from django.utils import timezone

from scrm.wecom.followups import tags_refresh
from tagging.models import Tag, TagGroup
from tagging.services.taxonomy_push import kind_of, taxonomy_push
from tests.wecom.conftest import callback_crypto, wecom_configured  # noqa: F401 - fixtures

ADD, EDIT, DELETE, LIST = (
    f"externalcontact/{name}" for name in ("add_corp_tag", "edit_corp_tag", "del_corp_tag", "get_corp_tag_list")
)


@pytest.fixture
def sim(wecom_configured):  # noqa: F811 - the fixture imported above
    return wecom_configured


@pytest.fixture
def library(sim):
    """The simulator's corp tags (three seeded groups) synced here; the request log starts empty after it."""
    tags_refresh()
    sim.requests.clear()
    return {tag.name: tag for tag in Tag.objects.select_related("group")}


@pytest.fixture
def ops(make_user):
    from scrm.core.roles import OPS

    return make_user("ops1", role=OPS, is_staff=True)


@pytest.fixture
def eager():
    """Tasks enqueued after commit run in this process (Celery's own test mode)."""
    from scrm.celery import app

    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(task_always_eager=False, task_eager_propagates=False)


def push(node: Tag | TagGroup) -> str:
    return taxonomy_push(kind=kind_of(node), pk=node.pk)


def fresh(node):
    return type(node).objects.get(pk=node.pk)


def rewind(node, *, by: timedelta) -> None:
    """As if the row's last push (or edit) began ``by`` earlier: its rest is over sooner."""
    type(node).objects.filter(pk=node.pk).update(updated_at=timezone.now() - by)


def sim_groups(sim) -> dict[str, dict]:
    """group name → {group_id, tags: {tag name: tag id}} as the simulator has them now."""
    with sim.state.lock:
        return {
            group["group_name"]: {"group_id": group_id, "tags": {tag["name"]: tag["id"] for tag in group["tag"]}}
            for group_id, group in sim.state.tag_groups.items()
        }


def bodies(sim, path: str) -> list[dict]:
    return [request.body for request in sim.requests_to(path)]
