"""The bots admin: the list shows load and utilization; the form refuses an unknown userid or a capacity out of
bounds on its field and saves through the services; the change page lists the bot's groups read-only; a busy bot
is not deleted; groups are assigned from a page of unassigned ones (all or none, the refusal a message), released
and moved from the bot-groups list; the rebalance page shows the proposal and applies the ticked moves. Sales
look, and change nothing."""

import pytest
from django.contrib.messages import get_messages

from groups.models import Bot, BotGroup
from groups.services import group_dismiss
from groups.services.bots import bot_groups_assign
from scrm.core.models import AuditLog
from tests.groups.bot_fixtures import audits, corp_fixture, counts, ids, make_bot, make_groups  # noqa: F401

pytestmark = pytest.mark.django_db

LIST = "/admin/groups/bot/"
ADD = "/admin/groups/bot/add/"
ASSIGN = "/admin/groups/bot/assign/"
REBALANCE = "/admin/groups/bot/rebalance/"
ASSIGNMENTS = "/admin/groups/botgroup/"


def login(client, user, settings):
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # assert on the source messages, not zh-hans
    return client


@pytest.fixture
def ops(client, corp, settings):
    return login(client, corp.ops, settings)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def action(client, url: str, name: str, pks, **extra):
    return client.post(url, {"action": name, "_selected_action": list(pks), **extra}, follow=True)


def form_data(**values) -> dict:
    return {
        "userid": "bot02",
        "name": "",
        "capacity": "10",
        "is_active": "on",
        "note": "",
        "assignments-TOTAL_FORMS": "0",
        "assignments-INITIAL_FORMS": "0",
        **values,
    }


def test_the_list_shows_load_and_utilization(ops, settings):
    make_bot("bot01", capacity=10, groups=make_groups(5))
    make_bot("bot02", capacity=10, groups=make_groups(3, prefix="wrB"))
    settings.SOP_MAX_GROUPS_PER_BOT = 4

    html = ops.get(LIST).content.decode()

    assert '<progress value="4" max="4"></progress> 125%' in html  # bot01: 5 groups, limit lowered to 4
    assert "over its limit" in html
    assert '<progress value="3" max="4"></progress> 75%' in html
    assert ops.get(LIST, {"o": "-5"}).status_code == 200  # ordered by utilization


def test_the_form_validates_through_the_service(ops, settings):
    unknown = ops.post(ADD, form_data(userid="ghost"))
    assert unknown.status_code == 200
    assert "No employee has the userid ghost" in unknown.content.decode()
    too_many = ops.post(ADD, form_data(capacity="201"))
    assert "A bot may run at most 200 groups" in too_many.content.decode()
    assert Bot.objects.count() == 0

    created = ops.post(ADD, form_data(), follow=True)
    assert created.status_code == 200
    bot = Bot.objects.get()
    assert (bot.userid, bot.capacity) == ("bot02", 10)
    assert audits() == [("create", "bot02")]

    bot_groups_assign(bot=bot, group_ids=ids(make_groups(3, prefix="wrX")), actor=None)
    below = ops.post(f"{LIST}{bot.pk}/change/", form_data(capacity="2"))
    assert "This bot runs 3 groups: move some away before lowering its capacity." in below.content.decode()
    settings.SOP_MAX_GROUPS_PER_BOT = 5  # below its capacity: other fields stay editable
    renamed = ops.post(f"{LIST}{bot.pk}/change/", form_data(name="二号机"), follow=True)
    assert renamed.status_code == 200
    assert Bot.objects.get().name == "二号机"
    assert [action for action, _ in audits()] == ["create", "assign_groups", "update"]


def test_the_change_page_lists_its_groups_read_only(ops):
    bot = make_bot("bot01", groups=make_groups(2))

    html = ops.get(f"{LIST}{bot.pk}/change/").content.decode()

    assert "wrG群1" in html and "wrG群2" in html
    assert 'name="assignments-0-group"' not in html  # shown, not editable
    assert 'name="assignments-0-DELETE"' not in html


def test_a_busy_bot_is_not_deleted(ops):
    busy = make_bot("bot01", groups=make_groups(2))
    idle = make_bot("bot02")

    response = ops.post(f"{LIST}{busy.pk}/delete/", {"post": "yes"}, follow=True)
    assert "This bot runs 2 groups: release or move them before deleting the bot." in messages_of(response)

    response = action(ops, LIST, "delete_bots", [busy.pk, idle.pk])
    assert messages_of(response) == [
        "bot01: This bot runs 2 groups: release or move them before deleting the bot.",
        "1 bot deleted.",
    ]
    assert list(Bot.objects.values_list("userid", flat=True)) == ["bot01"]
    assert counts() == {"bot01": (2, 2)}


def test_assign_from_the_page_of_unassigned_groups(ops):
    groups = make_groups(5)
    bot = make_bot("bot01", capacity=2)
    make_bot("bot02", groups=groups[4:])
    group_dismiss(chat_id=groups[3].chat_id, at=groups[3].created_at)

    picked = action(ops, LIST, "assign_groups", [bot.pk])
    assert picked.redirect_chain[-1][0] == f"{ASSIGN}?bot={bot.pk}"
    html = picked.content.decode()
    assert [chat for chat in ("wrG001", "wrG002", "wrG003", "wrG004", "wrG005") if chat in html] == [
        "wrG001",
        "wrG002",
        "wrG003",
    ]  # neither the dismissed group nor the one bot02 runs
    two = action(ops, LIST, "assign_groups", Bot.objects.values_list("pk", flat=True))
    assert messages_of(two) == ["Select exactly one bot to assign groups to."]

    too_many = ops.post(ASSIGN, {"bot": bot.pk, "groups": ids(groups[:3])}, follow=True)
    assert messages_of(too_many) == [
        "Bot bot01 has 2 free slots (it runs 0 of at most 2 groups), not enough for 3: nothing changed."
    ]
    assert counts()["bot01"] == (0, 0)
    assert too_many.content.decode().count("checked") == 3  # the ticks survive the refusal

    done = ops.post(ASSIGN, {"bot": bot.pk, "groups": ids(groups[:2])}, follow=True)
    assert messages_of(done) == ["2 groups assigned to bot01."]
    assert counts() == {"bot01": (2, 2), "bot02": (1, 1)}
    assert "wrG001" not in ops.get(ASSIGN).content.decode()


def test_release_all_groups_of_bots_after_confirming(ops):
    bot = make_bot("bot01", groups=make_groups(2))

    confirm = action(ops, LIST, "release_all_groups", [bot.pk])
    assert "stop running all their groups" in confirm.content.decode()
    assert counts() == {"bot01": (2, 2)}

    done = action(ops, LIST, "release_all_groups", [bot.pk], confirm="yes")
    assert messages_of(done) == ["2 groups released."]
    assert counts() == {"bot01": (0, 0)}


def test_release_and_move_from_the_bot_groups_list(ops):
    groups = make_groups(4)
    source = make_bot("bot01", groups=groups[:3])
    target = make_bot("bot02", capacity=2, groups=groups[3:])
    rows = {row.group_id: row.pk for row in BotGroup.objects.all()}

    asked = action(ops, ASSIGNMENTS, "move_groups", [rows[groups[0].pk], rows[groups[1].pk]])
    assert "The groups move only if all of them fit" in asked.content.decode()
    refused = action(
        ops, ASSIGNMENTS, "move_groups", [rows[groups[0].pk], rows[groups[1].pk]], confirm="yes", to_bot=target.pk
    )
    assert messages_of(refused) == [
        "Bot bot02 has 1 free slot (it runs 1 of at most 2 groups), not enough for 2: nothing changed."
    ]
    assert counts() == {"bot01": (3, 3), "bot02": (1, 1)}
    moved = action(ops, ASSIGNMENTS, "move_groups", [rows[groups[0].pk]], confirm="yes", to_bot=target.pk)
    assert messages_of(moved) == ["1 group moved to bot02."]

    confirm = action(ops, ASSIGNMENTS, "release_groups", [rows[groups[1].pk]])
    assert "stop being run by their bots" in confirm.content.decode()
    released = action(ops, ASSIGNMENTS, "release_groups", [rows[groups[1].pk]], confirm="yes")
    assert messages_of(released) == ["1 group released."]
    assert counts() == {"bot01": (1, 1), "bot02": (2, 2)}
    assert BotGroup.objects.get(group=groups[2]).bot == source


def test_the_rebalance_page_applies_the_ticked_moves(ops, settings):
    settings.SOP_MAX_GROUPS_PER_BOT = 4
    make_bot("bot01", groups=make_groups(4))
    idle = make_bot("bot02")

    page = ops.get(REBALANCE).content.decode()
    assert page.count('name="moves"') == 2 and "far above the average" in page
    moves = [f"{row.group_id}:{idle.pk}:{row.bot_id}" for row in BotGroup.objects.order_by("-assigned_at", "-pk")[:2]]

    stale = ops.post(REBALANCE, {"moves": [moves[0].replace(f":{idle.pk}:", ":999999:")]}, follow=True)
    assert messages_of(stale) == ["Unknown bots: 999999."]
    assert counts() == {"bot01": (4, 4), "bot02": (0, 0)}

    done = ops.post(REBALANCE, {"moves": moves[:1]}, follow=True)
    assert messages_of(done) == ["1 group moved."]
    assert counts() == {"bot01": (3, 3), "bot02": (1, 1)}
    assert ops.get(REBALANCE).content.decode().count('name="moves"') == 1


def test_sales_look_and_change_nothing(client, corp, settings):
    bot = make_bot("bot01", groups=make_groups(1))
    sales = login(client, corp.sales, settings)

    assert sales.get(LIST).status_code == 200
    assert sales.get(f"{LIST}{bot.pk}/change/").status_code == 200
    assert sales.get(ASSIGN).status_code == 403
    page = sales.get(REBALANCE)
    assert page.status_code == 200 and "Apply the ticked moves" not in page.content.decode()
    assert sales.post(REBALANCE, {"moves": [f"1:{bot.pk}:{bot.pk}"]}).status_code == 403
    assert sales.get(ASSIGNMENTS).status_code == 200
    before = AuditLog.objects.count()
    action(sales, ASSIGNMENTS, "release_groups", BotGroup.objects.values_list("pk", flat=True), confirm="yes")
    assert counts() == {"bot01": (1, 1)}
    assert AuditLog.objects.count() == before
