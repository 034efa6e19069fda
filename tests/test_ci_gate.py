"""Under CI=true a missing or unreachable PostgreSQL or Redis fails the run before any test: CI can never go
green by skipping the tests that need them."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.helpers import free_port


def run_pytest_under_ci(tmp_path, **variables) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(CI="true", SCRM_ENV_FILE=os.devnull, SCRM_VAR_DIR=str(tmp_path / "var"), **variables)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_translations.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ci_without_services_fails_instead_of_skipping(tmp_path):
    result = run_pytest_under_ci(tmp_path)

    output = result.stdout + result.stderr
    assert result.returncode == 3
    assert "CI=true requires PostgreSQL and Redis" in output
    assert "DATABASE_URL does not point at PostgreSQL; REDIS_URL is not set" in output
    assert "passed" not in output


@pytest.mark.parametrize(
    ("variables", "complaint"),
    [
        ({"REDIS_URL": "redis://127.0.0.1:{port}/0"}, "Redis unreachable"),
        ({"DATABASE_URL": "postgres://postgres@127.0.0.1:{port}/test"}, "PostgreSQL unreachable"),
    ],
)
def test_ci_with_an_unreachable_service_fails(tmp_path, variables, complaint):
    port = free_port()
    result = run_pytest_under_ci(tmp_path, **{name: url.format(port=port) for name, url in variables.items()})

    assert result.returncode == 3
    assert complaint in result.stdout + result.stderr
