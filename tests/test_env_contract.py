"""Every environment variable the code reads is documented in .env.example and the README table."""

import re

from tests.conftest import ROOT

SETTINGS = ROOT / "scrm" / "settings" / "base.py"
DEV = ROOT / "dev.py"


def variables_read() -> set[str]:
    """Names read through django-environ in the settings, and through os.environ in dev.py."""
    found = set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', SETTINGS.read_text()))
    return found | set(re.findall(r'os\.environ\.get\(\s*"([A-Z][A-Z0-9_]+)"', DEV.read_text()))


def test_settings_read_the_contract_names():
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TIME_ZONE", "WECOM_API_BASE_URL"} <= variables_read()


def test_every_variable_is_in_env_example():
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))

    assert variables_read() - documented == set()


def test_every_variable_is_in_the_readme_table():
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", (ROOT / "README.md").read_text(), re.M))

    assert variables_read() - documented == set()
