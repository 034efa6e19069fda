# ruff: noqa: F811 - pytest fixtures imported from tests.wecom.conftest are test arguments of the same name
"""tagging.services.wecom_tag_pushes against the WeCom simulator over HTTP: one mark_tag per follow relation with
the right add/remove, WeCom busy then fine, refusals recorded in plain words, an unknown outcome sent again, the
relation's tags (here and in the simulator) as WeCom shows them afterwards, an edit made while its call was in
flight, and the drain task kicked after commit."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from customers.models import Customer, ExternalContact, FollowRelation
from scrm.wecom.client import get_client
from scrm.wecom.sync import wecom_sync
from tagging.models import CustomerTag, Source, Tag, WeComTagPush
from tagging.services import customer_tags_change
from tagging.services.wecom_tag_pushes import CONFIG_RETRY, MAX_ATTEMPTS, wecom_tag_pushes_send
from tests.wecom.conftest import callback_crypto, wecom_configured  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

MARK_TAG = "externalcontact/mark_tag"
Status = WeComTagPush.Status


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def sim(wecom_configured):
    return wecom_configured


@pytest.fixture
def client(sim):
    return get_client("contact", sleep=lambda seconds: None)  # the client's own backoff, without the wait


@pytest.fixture
def eager():
    from scrm.celery import app

    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(task_always_eager=False, task_eager_propagates=False)


class Corp:
    """A customer both zhangsan and lisi follow in the simulator, zhangsan's relation showing 年卡会员, synced."""

    def __init__(self, sim):
        self.sim = sim
        with sim.state.lock:
            self.ext = sim.state.add_customer(userid="zhangsan", name="王芳")
            sim.state.add_customer(userid="lisi", name="王芳", external_userid=self.ext)
            tag_ids = {tag["name"]: tag["id"] for group in sim.state.tag_groups.values() for tag in group["tag"]}
            sim.state.follow(self.ext, "zhangsan")["tag_ids"] = [tag_ids["年卡会员"]]
        results = wecom_sync(resources=("employees", "tags", "contacts"))
        assert not any("error" in counts for counts in results.values()), results
        self.tags = {tag.name: tag for tag in Tag.objects.filter(tag_id__in=tag_ids.values())}
        self.customer = Customer.objects.get(contacts__external_userid=self.ext)

    def wecom_id(self, name: str) -> str:
        return self.tags[name].tag_id

    def shown_in_wecom(self, userid: str) -> list[str]:
        with self.sim.state.lock:
            return sorted(self.sim.state.follow(self.ext, userid)["tag_ids"])

    def shown_here(self, userid: str) -> list[str]:
        return sorted(
            FollowRelation.objects.get(contact__external_userid=self.ext, employee__userid=userid).wecom_tag_ids
        )

    def push(self, userid: str) -> WeComTagPush:
        return WeComTagPush.objects.filter(relation__employee__userid=userid).latest("pk")

    def held(self) -> dict[str, str]:
        return dict(CustomerTag.objects.filter(customer=self.customer).values_list("tag__name", "source"))

    def mark_tag_calls(self) -> list[tuple[str, list[str], list[str]]]:
        return [
            (r.body["userid"], sorted(r.body.get("add_tag") or []), sorted(r.body.get("remove_tag") or []))
            for r in self.sim.requests_to(MARK_TAG)
        ]

    def tag(self, *, add=(), remove=()) -> None:
        customer_tags_change(
            customer_ids=[self.customer.pk],
            add=[self.tags[name].pk for name in add],
            remove=[self.tags[name].pk for name in remove],
            source=Source.MANUAL,
        )


@pytest.fixture
def corp(sim):
    return Corp(sim)


def make_due() -> None:
    WeComTagPush.objects.filter(status=Status.PENDING).update(due_at=timezone.now())


def test_one_mark_tag_per_relation_with_its_add_and_remove_then_both_sides_show_the_tags(corp, client):
    assert corp.held() == {"年卡会员": Source.WECOM}

    corp.tag(add=["私教课"], remove=["年卡会员"])
    counts = wecom_tag_pushes_send(client=client)

    assert counts == {"sent": 2, "released": 0}
    card, coach = corp.wecom_id("年卡会员"), corp.wecom_id("私教课")
    assert sorted(corp.mark_tag_calls()) == [("lisi", [coach], []), ("zhangsan", [coach], [card])]
    assert corp.shown_in_wecom("zhangsan") == corp.shown_in_wecom("lisi") == [coach]
    assert corp.shown_here("zhangsan") == corp.shown_here("lisi") == [coach]
    push = corp.push("zhangsan")
    assert (push.status, push.attempts, push.last_error, push.sent_at is not None) == (Status.SENT, 1, "", True)
    assert corp.held() == {"私教课": Source.MANUAL}  # the relation now shows it: nothing for the reconcile to undo

    assert wecom_tag_pushes_send(client=client) == {}  # nothing left: no call
    assert len(corp.mark_tag_calls()) == 2


def test_wecom_busy_is_retried_with_backoff_and_the_rest_of_the_batch_waits(corp, client):
    corp.tag(add=["私教课"])
    corp.sim.faults.inject(path=MARK_TAG, errcode=-1, times=3)  # all three of the client's own attempts

    counts = wecom_tag_pushes_send(client=client)

    assert counts == {"sent": 0, "retried": 1, "released": 1}
    first, second = WeComTagPush.objects.order_by("pk")
    assert (first.status, first.attempts) == (Status.PENDING, 1)
    assert "errcode -1" in first.last_error
    assert timezone.now() + timedelta(seconds=10) < first.due_at < timezone.now() + timedelta(seconds=40)
    assert (second.status, second.attempts, second.due_at <= timezone.now()) == (Status.PENDING, 0, True)
    assert wecom_tag_pushes_send(client=client) == {"sent": 1, "released": 0}  # the released one; first not due

    make_due()
    assert wecom_tag_pushes_send(client=client) == {"sent": 1, "released": 0}
    card, coach = corp.wecom_id("年卡会员"), corp.wecom_id("私教课")
    assert (corp.shown_in_wecom("zhangsan"), corp.shown_in_wecom("lisi")) == (sorted([card, coach]), [coach])
    assert [call[0] for call in corp.mark_tag_calls()] == ["zhangsan"] * 3 + ["lisi", "zhangsan"]
    assert WeComTagPush.objects.get(pk=first.pk).attempts == 2


def test_wecom_busy_for_too_long_fails_the_push(corp, client):
    corp.tag(add=["私教课"])
    WeComTagPush.objects.update(attempts=MAX_ATTEMPTS - 1)
    corp.sim.faults.inject(path=MARK_TAG, errcode=-1, times=3)

    wecom_tag_pushes_send(client=client, limit=1)

    push = WeComTagPush.objects.order_by("pk").first()
    assert (push.status, push.attempts) == (Status.FAILED, MAX_ATTEMPTS)
    assert push.last_error.startswith(f"WeCom did not take the change after {MAX_ATTEMPTS} attempts")


def test_a_relation_gone_in_wecom_fails_at_once_in_plain_words_and_the_other_is_sent(corp, client):
    corp.tag(add=["私教课"])
    with corp.sim.state.lock:
        corp.sim.state.remove_follow(corp.ext, "lisi")

    assert wecom_tag_pushes_send(client=client) == {"sent": 1, "failed": 1, "released": 0}

    lisi = corp.push("lisi")
    assert (lisi.status, lisi.attempts) == (Status.FAILED, 1)
    assert lisi.last_error == "the customer is no longer this employee's WeCom contact (errcode 84061)"
    assert corp.push("zhangsan").status == Status.SENT
    assert corp.held() == {"年卡会员": Source.WECOM, "私教课": Source.MANUAL}


def test_a_tag_deleted_in_wecom_fails_the_push(corp, client):
    corp.tag(add=["私教课"])
    client.external_contact.del_corp_tag(tag_id=[corp.wecom_id("私教课")])

    assert wecom_tag_pushes_send(client=client) == {"sent": 0, "failed": 2, "released": 0}
    assert {push.last_error for push in WeComTagPush.objects.all()} == {
        "WeCom does not know one of these tags (deleted in WeCom?) (errcode 40068)"
    }


def test_an_ended_relation_is_not_called_at_all(corp, client):
    corp.tag(add=["私教课"])
    FollowRelation.objects.filter(employee__userid="lisi").update(status=FollowRelation.Status.DELETED_BY_CUSTOMER)

    assert wecom_tag_pushes_send(client=client) == {"sent": 1, "failed": 1, "released": 0}
    assert [call[0] for call in corp.mark_tag_calls()] == ["zhangsan"]
    assert corp.push("lisi").last_error == "the follow relation has ended, so WeCom shows no tags on it"


def test_an_unknown_outcome_is_sent_again_and_lands_once(corp, client):
    corp.tag(add=["私教课"])
    corp.sim.faults.inject(path=MARK_TAG, drop="after")  # WeCom applied it; the answer was lost

    assert wecom_tag_pushes_send(client=client) == {"sent": 0, "retried": 1, "released": 1}
    first = WeComTagPush.objects.order_by("pk").first()
    assert (first.status, first.attempts) == (Status.PENDING, 1)
    assert "may have been applied" in first.last_error

    make_due()
    assert wecom_tag_pushes_send(client=client) == {"sent": 2, "released": 0}
    coach, card = corp.wecom_id("私教课"), corp.wecom_id("年卡会员")
    assert corp.shown_in_wecom("zhangsan") == sorted([card, coach])  # once, however often it was sent
    assert corp.shown_here("zhangsan") == sorted([card, coach])


def test_a_configuration_error_keeps_the_pushes_waiting_without_counting_attempts(corp, client, settings):
    corp.tag(add=["私教课"])
    settings.WECOM_CONTACT_SECRET = ""

    assert wecom_tag_pushes_send() == {"released": 2}

    for push in WeComTagPush.objects.all():
        assert (push.status, push.attempts) == (Status.PENDING, 0)
        assert "WECOM_CONTACT_SECRET" in push.last_error
        assert push.due_at > timezone.now() + CONFIG_RETRY - timedelta(minutes=1)
    assert corp.mark_tag_calls() == []


def test_our_rate_limit_releases_the_batch_until_the_next_minute(corp, client, settings):
    corp.tag(add=["私教课"])
    settings.WECOM_RATE_LIMIT_PER_MINUTE = 1

    counts = wecom_tag_pushes_send(client=get_client("contact"))

    assert counts == {"sent": 1, "released": 1}
    waiting = WeComTagPush.objects.get(status=Status.PENDING)
    assert (waiting.attempts, waiting.due_at > timezone.now()) == (0, True)


class EditingWhileSending:
    """The real client; while WeCom handles the first mark_tag, staff edit the customer (another request)."""

    def __init__(self, client, edit):
        self.client, self.edit = client, edit

    @property
    def external_contact(self):
        return self

    def mark_tag(self, *args, **kwargs):
        answer = self.client.external_contact.mark_tag(*args, **kwargs)
        if self.edit is not None:
            edit, self.edit = self.edit, None
            edit()
        return answer


@pytest.mark.parametrize(
    ("edit", "then"),
    [
        # merged into the row in flight: the part not sent is queued again
        (dict(add=["团课"]), (["团课"], [])),
        # the row in flight emptied (deleted): what was sent is taken back
        (dict(remove=["私教课"]), ([], ["私教课"])),
    ],
)
def test_an_edit_made_while_the_call_was_in_flight_is_sent_next(corp, client, edit, then):
    FollowRelation.objects.filter(employee__userid="lisi").update(status=FollowRelation.Status.DELETED_BY_EMPLOYEE)
    corp.tag(add=["私教课"])
    sent = corp.push("zhangsan")

    wecom_tag_pushes_send(client=EditingWhileSending(client, lambda: corp.tag(**edit)), limit=1)

    assert WeComTagPush.objects.filter(pk=sent.pk, status=Status.SENT).exists() == ("add" in edit)
    queued = WeComTagPush.objects.get(status=Status.PENDING)
    assert (queued.add_tag_ids, queued.remove_tag_ids) == tuple([corp.wecom_id(n) for n in names] for names in then)
    assert wecom_tag_pushes_send(client=client) == {"sent": 1, "released": 0}
    wanted = {"年卡会员", "私教课", "团课"} if "add" in edit else {"年卡会员"}
    assert corp.shown_in_wecom("zhangsan") == sorted(corp.wecom_id(name) for name in wanted)
    assert set(corp.held()) == wanted


def test_the_drain_runs_after_the_commit_that_queued_the_pushes(corp, eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        corp.tag(add=["团课"])

    assert len(callbacks) == 1
    assert sorted(call[0] for call in corp.mark_tag_calls()) == ["lisi", "zhangsan"]
    assert set(WeComTagPush.objects.values_list("status", flat=True)) == {Status.SENT}
    assert ExternalContact.objects.get(external_userid=corp.ext).customer_id == corp.customer.pk
