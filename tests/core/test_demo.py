import json
import stat

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_seed_demo_is_safe_to_rerun(settings, capsys):
    settings.DEBUG = True

    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")
    second = capsys.readouterr().out

    assert first == second
    assert User.objects.count() == 3
    stored = json.loads((settings.VAR_DIR / "demo-logins.json").read_text())
    assert set(stored) == {"admin", "ops", "sales"}
    assert f"LOGIN superuser  admin    {stored['admin']}" in first
    assert stat.S_IMODE((settings.VAR_DIR / "demo-logins.json").stat().st_mode) == 0o600


def test_demo_users_have_their_roles(settings, client):
    settings.DEBUG = True
    call_command("seed_demo")
    stored = json.loads((settings.VAR_DIR / "demo-logins.json").read_text())

    admin, ops, sales = (User.objects.get(username=name) for name in ("admin", "ops", "sales"))
    assert admin.is_superuser and admin.is_staff
    assert list(ops.groups.values_list("name", flat=True)) == ["ops"] and ops.is_staff
    assert list(sales.groups.values_list("name", flat=True)) == ["sales"] and not sales.is_staff
    assert client.login(username="ops", password=stored["ops"])
    assert client.get("/admin/").status_code == 200


def test_seed_demo_refuses_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG=true"):
        call_command("seed_demo")

    assert User.objects.count() == 0


@pytest.fixture(autouse=True)
def _fresh_credentials(settings):
    (settings.VAR_DIR / "demo-logins.json").unlink(missing_ok=True)
    yield
    (settings.VAR_DIR / "demo-logins.json").unlink(missing_ok=True)
