"""The hardened WeCom client against the loopback simulator: real HTTP, real cache, no mocks.

Backoff sleeps are injected (``sleeps`` records them) so the retry paths run in milliseconds.
"""

import logging
import subprocess
import sys
import threading
import time

import pytest
from django.core.cache import cache

from scrm.wecom.client import get_client
from scrm.wecom.client.shared import atomic_add
from scrm.wecom.errors import (
    WeComConfigError,
    WeComError,
    WeComOutcomeUnknown,
    WeComRateLimited,
    WeComTokenError,
    WeComTransientError,
)
from tests.helpers import CORP_ID, SIM_AGENT_ID, SIM_SECRETS, free_port, subprocess_env

READ = "externalcontact/get_follow_user_list"
WRITE = "externalcontact/add_msg_template"
MASS_MESSAGE = {"chat_type": "single", "sender": "zhangsan", "text": {"content": "国庆活动"}}


@pytest.fixture(autouse=True)
def sim(wecom_configured):
    """The shared simulator, reset, with every token revoked and the settings pointing at it."""
    return wecom_configured


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(sleeps):
    return get_client("contact", sleep=sleeps.append)


def count(sim, path):
    return len(sim.requests_to(path))


# --- tokens -----------------------------------------------------------------------------------------------------


def test_gettoken_goes_to_the_configured_base_url(sim, client):
    client.external_contact.get_follow_user_list()

    (gettoken,) = sim.requests_to("gettoken")
    assert gettoken.method == "GET"
    assert gettoken.query["corpid"] == CORP_ID
    assert sim.requests_to(READ)[0].access_token


def test_token_is_cached_and_reused(sim, client):
    for _ in range(5):
        client.external_contact.get_follow_user_list()
    get_client("contact").external_contact.get_follow_user_list()  # another client, same shared cache

    assert count(sim, "gettoken") == 1
    assert len({r.access_token for r in sim.requests_to(READ)}) == 1
    assert count(sim, READ) == 6


@pytest.mark.parametrize("invalidate", ["expire_tokens", "revoke_tokens"])
def test_rejected_token_is_refreshed_once_and_the_call_succeeds(sim, client, sleeps, invalidate):
    client.external_contact.get_follow_user_list()
    getattr(sim, invalidate)()  # 42001 expired / 40014 revoked early

    result = client.external_contact.get_follow_user_list()

    assert result["errcode"] == 0
    assert count(sim, "gettoken") == 2
    assert count(sim, READ) == 3  # ok, rejected, ok
    first, rejected, retried = sim.requests_to(READ)
    assert first.access_token == rejected.access_token != retried.access_token
    assert sleeps == []  # a token refresh is not a backoff


def test_second_consecutive_token_rejection_raises_after_one_refresh(sim, client):
    sim.faults.inject(path=READ, errcode=42001, times=5)

    with pytest.raises(WeComTokenError) as caught:
        client.external_contact.get_follow_user_list()

    assert caught.value.errcode == 42001
    assert count(sim, "gettoken") == 2  # the first token, one refresh, no recursion
    assert count(sim, READ) == 2


def test_token_is_refreshed_ahead_of_expiry(sim, client):
    client.external_contact.get_follow_user_list()
    entry = cache.get(client.access_token_key)
    cache.set(client.access_token_key, {**entry, "refresh_at": time.time() - 1}, timeout=600)

    client.external_contact.get_follow_user_list()

    assert count(sim, "gettoken") == 2


def test_while_another_process_refreshes_ahead_of_expiry_the_current_token_is_used(sim, client):
    client.external_contact.get_follow_user_list()
    entry = cache.get(client.access_token_key)
    cache.set(client.access_token_key, {**entry, "refresh_at": time.time() - 1}, timeout=600)
    assert atomic_add(f"{client.access_token_key}:lock", "other-process", timeout=30)

    client.external_contact.get_follow_user_list()

    assert count(sim, "gettoken") == 1
    assert count(sim, READ) == 2


def test_without_a_token_a_waiter_takes_the_value_another_process_stores(sim, client):
    other = get_client("contact")
    lock_key = f"{client.access_token_key}:lock"
    assert atomic_add(lock_key, "other-process", timeout=30)
    token = other._fetch_access_token()[0]  # "the other process" fetches ...
    storing = threading.Timer(0.2, lambda: other.tokens._store(client.access_token_key, token, 7200))
    storing.start()  # ... and stores it while we wait

    client.external_contact.get_follow_user_list()

    storing.join()
    assert count(sim, "gettoken") == 1
    assert sim.requests_to(READ)[0].access_token == token


def test_waiting_for_another_process_is_bounded(sim, client):
    client.tokens.wait_timeout = 0.3
    assert atomic_add(f"{client.access_token_key}:lock", "stuck-process", timeout=30)

    with pytest.raises(WeComTransientError, match="timed out waiting"):
        client.external_contact.get_follow_user_list()

    assert count(sim, "gettoken") == 0


_REFRESH_SCRIPT = """
import pathlib, sys, time
import django
django.setup()
from scrm.wecom.client import get_client
go = pathlib.Path(sys.argv[1])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
get_client("contact").external_contact.get_follow_user_list()
print("done", flush=True)
"""


def test_concurrent_refresh_from_several_processes_fetches_one_token(sim, tmp_path):
    # gettoken answers slowly, so the other processes certainly find the refresh lock taken.
    sim.faults.inject(path="gettoken", delay=0.5, times=1)
    env = subprocess_env(
        SCRM_ENV_FILE="/dev/null",
        WECOM_API_BASE_URL=sim.base_url,
        WECOM_CORP_ID=CORP_ID,
        WECOM_CONTACT_SECRET=SIM_SECRETS["contact"],
        WECOM_RATE_LIMIT_PER_MINUTE="0",
    )
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _REFRESH_SCRIPT, str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
        go.touch()  # all four start refreshing at the same moment
        outputs = [worker.communicate(timeout=60) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        assert out.strip() == "done"
    assert count(sim, "gettoken") == 1
    assert count(sim, READ) == 4
    assert len({r.access_token for r in sim.requests_to(READ)}) == 1


# --- retries ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("errcode", [-1, 45009, 45033])
def test_transient_errcode_is_retried_with_backoff_then_succeeds(sim, client, sleeps, errcode):
    sim.faults.inject(path=READ, errcode=errcode, times=2)

    assert client.external_contact.get_follow_user_list()["errcode"] == 0

    assert count(sim, READ) == 3
    assert len(sleeps) == 2
    assert 0.1 <= sleeps[0] <= 0.2  # base 0.2 s, half fixed, half jitter
    assert 0.2 <= sleeps[1] <= 0.4  # doubled


def test_transient_errcode_exhausts_the_attempts(sim, client, sleeps):
    sim.faults.inject(path=READ, errcode=45009, times=10)

    with pytest.raises(WeComTransientError) as caught:
        client.external_contact.get_follow_user_list()

    assert caught.value.errcode == 45009
    assert count(sim, READ) == 3
    assert len(sleeps) == 2


def test_backoff_is_capped(sim, sleeps, settings):
    client = get_client("contact", sleep=sleeps.append, max_attempts=6, backoff_cap=0.5)
    sim.faults.inject(path=READ, errcode=-1, times=10)

    with pytest.raises(WeComTransientError):
        client.external_contact.get_follow_user_list()

    assert count(sim, READ) == 6
    assert len(sleeps) == 5
    assert all(delay <= 0.5 for delay in sleeps)


def test_write_rejected_with_a_transient_errcode_is_retried(sim, client, sleeps):
    sim.faults.inject(path=WRITE, errcode=45033, times=1)

    result = client.external_contact.add_msg_template(dict(MASS_MESSAGE))

    assert result["msgid"]
    assert count(sim, WRITE) == 2
    assert len(sleeps) == 1


def test_write_dropped_after_processing_raises_outcome_unknown_and_is_sent_once(sim, client, sleeps):
    sim.faults.inject(path=WRITE, drop="after", times=1)

    with pytest.raises(WeComOutcomeUnknown) as caught:
        client.external_contact.add_msg_template(dict(MASS_MESSAGE))

    assert count(sim, WRITE) == 1
    assert sleeps == []
    assert caught.value.path == WRITE
    assert "not retried" in str(caught.value)


def test_write_timing_out_raises_outcome_unknown_and_is_sent_once(sim, sleeps, settings):
    settings.WECOM_HTTP_TIMEOUT = 0.3
    client = get_client("contact", sleep=sleeps.append)
    client.access_token  # noqa: B018 - fetch the token before the slow call
    sim.faults.inject(path=WRITE, delay=1.0, times=1)

    with pytest.raises(WeComOutcomeUnknown, match="ReadTimeout"):
        client.external_contact.add_msg_template(dict(MASS_MESSAGE))

    assert count(sim, WRITE) == 1
    assert sleeps == []


def test_read_dropped_after_processing_is_retried(sim, client, sleeps):
    sim.faults.inject(path=READ, drop="after", times=1)

    assert client.external_contact.get_follow_user_list()["errcode"] == 0

    assert count(sim, READ) == 2
    assert len(sleeps) == 1


def test_gettoken_dropped_is_retried(sim, client, sleeps):
    sim.faults.inject(path="gettoken", drop="before", times=1)

    client.external_contact.get_follow_user_list()

    assert count(sim, "gettoken") == 2
    assert len(sleeps) == 1


def test_connection_refused_before_sending_is_retried_for_a_write_too(sim, sleeps):
    client = get_client("contact", base_url=f"http://127.0.0.1:{free_port()}/cgi-bin/")
    get_client("contact").access_token  # noqa: B018 - the token comes from the shared cache

    def server_comes_back(delay):
        sleeps.append(delay)
        client.API_BASE_URL = sim.base_url

    client.sleep = server_comes_back

    assert client.external_contact.add_msg_template(dict(MASS_MESSAGE))["msgid"]

    assert len(sleeps) == 1
    assert count(sim, WRITE) == 1


def test_connection_refused_exhausts_the_attempts(sim, sleeps):
    client = get_client("contact", sleep=sleeps.append, base_url=f"http://127.0.0.1:{free_port()}/cgi-bin/")

    with pytest.raises(WeComTransientError) as caught:
        client.external_contact.get_follow_user_list()

    assert caught.value.errcode is None
    assert len(sleeps) == 2
    assert SIM_SECRETS["contact"] not in str(caught.value)
    assert "corpsecret=***" in str(caught.value)  # the URL is shown, the secret is not
    assert caught.value.__context__ is None and caught.value.__cause__ is None


# --- rate limiter -----------------------------------------------------------------------------------------------


def test_rate_limit_refuses_the_call_past_the_budget_until_the_next_window(sim, settings, sleeps):
    settings.WECOM_RATE_LIMIT_PER_MINUTE = 3
    now = [1_800_000_020.0]  # 20 s into a minute
    client = get_client("contact", sleep=sleeps.append, clock=lambda: now[0])
    for _ in range(3):
        client.external_contact.get_follow_user_list()

    with pytest.raises(WeComRateLimited) as caught:
        client.external_contact.get_follow_user_list()

    assert caught.value.retry_after == pytest.approx(40.0)
    assert caught.value.path == READ
    assert count(sim, READ) == 3  # the fourth never left
    with pytest.raises(WeComRateLimited):  # shared by every client (and process) of the corp
        get_client("contact", clock=lambda: now[0]).external_contact.get_follow_user_list()
    assert sleeps == []

    now[0] += 40.0  # the next minute
    client.external_contact.get_follow_user_list()
    assert count(sim, READ) == 4


def test_rate_limit_counts_each_api_separately(sim, settings):
    settings.WECOM_RATE_LIMIT_PER_MINUTE = 1
    client = get_client("contact", clock=lambda: 1_800_000_000.0)

    client.external_contact.get_follow_user_list()  # gettoken and get_follow_user_list: one each
    client.user.get("zhangsan")

    assert count(sim, READ) == 1
    assert count(sim, "user/get") == 1


# --- configuration errors and secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("WECOM_CORP_ID", "contact"),
        ("WECOM_CONTACT_SECRET", "contact"),
        ("WECOM_AGENT_SECRET", "agent"),
        ("WECOM_AGENT_ID", "agent"),
        ("WECOM_ARCHIVE_SECRET", "archive"),
    ],
)
def test_missing_setting_names_the_variable(settings, name, kind):
    setattr(settings, name, "")

    with pytest.raises(WeComConfigError) as caught:
        get_client(kind)

    assert caught.value.setting == name
    assert name in str(caught.value)


def test_wrong_secret_is_a_config_error_with_a_hint(sim, settings, client):
    settings.WECOM_CONTACT_SECRET = "not-the-secret"

    with pytest.raises(WeComConfigError) as caught:
        get_client("contact").external_contact.get_follow_user_list()

    assert caught.value.errcode == 40001
    assert caught.value.path == "gettoken"
    assert "Secret 错误" in str(caught.value)  # the hint, in the default language
    assert "not-the-secret" not in str(caught.value)
    assert count(sim, "gettoken") == 1  # not retried


def test_secret_without_permission_is_a_config_error_naming_the_contact_secret(sim):
    with pytest.raises(WeComConfigError) as caught:
        get_client("archive").external_contact.get_follow_user_list()

    assert caught.value.errcode == 48002
    assert "客户联系" in str(caught.value)
    assert count(sim, READ) == 1


def test_untrusted_ip_hint(sim, client):
    sim.faults.inject(path=READ, errcode=60020, errmsg="not allow to access from your ip", times=1)

    with pytest.raises(WeComConfigError, match="企业可信IP"):
        client.external_contact.get_follow_user_list()


def test_other_errcodes_raise_the_base_error_without_retry(sim, client, sleeps):
    with pytest.raises(WeComError) as caught:
        client.external_contact.get("wm-does-not-exist")

    assert type(caught.value) is WeComError
    assert caught.value.errcode
    assert caught.value.path == "externalcontact/get"
    assert sleeps == []


def test_secrets_and_tokens_never_reach_logs_or_errors(sim, client, caplog):
    caplog.set_level(logging.DEBUG)
    sim.faults.inject(path="gettoken", drop="before", times=1)
    client.external_contact.get_follow_user_list()
    token = sim.requests_to(READ)[0].access_token
    sim.expire_tokens()
    client.external_contact.get_follow_user_list()
    new_token = sim.requests_to(READ)[-1].access_token
    sim.faults.inject(path=WRITE, drop="after", times=1)
    with pytest.raises(WeComOutcomeUnknown) as unknown:
        client.external_contact.add_msg_template(dict(MASS_MESSAGE))
    dead = get_client("contact", sleep=lambda _: None, base_url=f"http://127.0.0.1:{free_port()}/cgi-bin/")
    dead.tokens.namespace += ":dead"  # no cached token: gettoken itself fails, with the secret in its URL
    with pytest.raises(WeComTransientError) as unreachable:
        dead.access_token  # noqa: B018

    texts = [caplog.text, str(unknown.value), str(unreachable.value), repr(client)]
    for secret in (SIM_SECRETS["contact"], token, new_token):
        for text in texts:
            assert secret not in text
    assert "corpsecret=***" in caplog.text  # urllib3's request lines were logged, redacted


# --- JS-SDK tickets ---------------------------------------------------------------------------------------------


def test_tickets_are_cached_per_agent_id(sim, settings):
    first = get_client("agent")
    settings.WECOM_AGENT_ID = "1000003"
    second = get_client("agent")

    tickets = [first.jsapi.get_agent_jsapi_ticket(), second.jsapi.get_agent_jsapi_ticket()]
    again = [first.jsapi.get_agent_jsapi_ticket(), second.jsapi.get_agent_jsapi_ticket()]

    assert first.tokens.key("agent_ticket") != second.tokens.key("agent_ticket")
    assert SIM_AGENT_ID in first.tokens.key("agent_ticket")
    assert "1000003" in second.tokens.key("agent_ticket")
    assert cache.get(first.tokens.key("agent_ticket"))["value"] == tickets[0]
    assert cache.get(second.tokens.key("agent_ticket"))["value"] == tickets[1]
    assert again == tickets
    assert count(sim, "ticket/get") == 2
    assert sim.requests_to("ticket/get")[0].query["type"] == "agent_config"


def test_corp_jsapi_ticket_is_cached(sim):
    client = get_client("agent")

    assert client.jsapi.get_jsapi_ticket() == client.jsapi.get_jsapi_ticket()

    assert count(sim, "get_jsapi_ticket") == 1
    assert count(sim, "gettoken") == 1
