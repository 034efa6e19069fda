"""manage.py wecom_check against the simulator: each misconfiguration named, with its fix."""

import pytest
from django.core.management import CommandError, call_command

from scrm.wecom.setup_check import run_setup_checks

pytestmark = pytest.mark.django_db


def by_name(results):
    return {result.name: result for result in results}


def test_a_good_setup_passes_except_that_wecom_never_called_us(wecom_configured):
    results = by_name(run_setup_checks())

    assert {name: r.status for name, r in results.items()} == {
        "corp": "ok",
        "secret:contact": "ok",
        "secret:agent": "ok",
        "secret:archive": "ok",
        "callback": "ok",
        "callback:reached": "warn",
    }
    assert "接收事件服务器" in results["callback:reached"].fix


def test_url_verification_is_remembered(wecom_configured, client, callback_crypto):
    echostr = callback_crypto.encrypt("42")
    signature = callback_crypto.signature("1", "n", echostr)
    client.get("/wecom/callback", {"msg_signature": signature, "timestamp": "1", "nonce": "n", "echostr": echostr})

    assert by_name(run_setup_checks())["callback:reached"].status == "ok"


def test_wrong_secret_is_named_with_its_fix(wecom_configured, settings):
    settings.WECOM_CONTACT_SECRET = "typo"

    result = by_name(run_setup_checks())["secret:contact"]

    assert result.status == "fail"
    assert "40001" in result.message
    assert "typo" not in result.message
    assert "Secret" in result.fix


def test_secret_of_another_app_is_a_permission_problem(wecom_configured, settings):
    settings.WECOM_CONTACT_SECRET = settings.WECOM_ARCHIVE_SECRET

    result = by_name(run_setup_checks())["secret:contact"]

    assert result.status == "fail"
    assert "48002" in result.message
    assert "客户联系" in result.fix


def test_wrong_corp_id(wecom_configured, settings):
    settings.WECOM_CORP_ID = "wwwrong"

    results = by_name(run_setup_checks())

    assert results["secret:contact"].status == "fail"
    assert "40013" in results["secret:contact"].message


def test_missing_optional_secrets_only_warn(wecom_configured, settings):
    settings.WECOM_ARCHIVE_SECRET = ""
    settings.WECOM_AGENT_SECRET = ""

    results = by_name(run_setup_checks())

    assert results["secret:archive"].status == "warn"
    assert "WECOM_ARCHIVE_SECRET" in results["secret:archive"].message
    assert results["secret:agent"].status == "warn"
    assert results["secret:contact"].status == "ok"


def test_bad_aes_key_fails_the_callback_check(wecom_configured, settings):
    settings.WECOM_CALLBACK_AES_KEY = "too-short"

    result = by_name(run_setup_checks())["callback"]

    assert result.status == "fail"
    assert "EncodingAESKey" in result.fix


def test_command_exits_non_zero_and_names_the_failures(wecom_configured, settings, capsys):
    settings.WECOM_CONTACT_SECRET = "typo"

    with pytest.raises(CommandError, match="1 check\\(s\\) failed: secret:contact"):
        call_command("wecom_check")

    out = capsys.readouterr().out
    assert "✗ secret:contact" in out
    assert "✓ secret:agent" in out


def test_command_passes_on_a_good_setup(wecom_configured, capsys):
    call_command("wecom_check")

    assert "✓ secret:contact" in capsys.readouterr().out


def test_admin_page_shows_the_findings_to_ops(wecom_configured, settings, client, make_user):
    settings.WECOM_CONTACT_SECRET = "typo"
    client.force_login(make_user("ops1", role="ops", is_staff=True))

    listing = client.get("/admin/wecom/inboxevent/")
    page = client.get("/admin/wecom/inboxevent/setup-check/")

    assert '/admin/wecom/inboxevent/setup-check/"' in listing.content.decode()
    assert page.status_code == 200
    body = page.content.decode()
    assert body.count('class="check-fail"') == 1
    assert "40001" in body


def test_admin_page_is_refused_to_sales(wecom_configured, client, make_user):
    client.force_login(make_user("sales1", role="sales", is_staff=True))

    assert client.get("/admin/wecom/inboxevent/setup-check/").status_code == 403
