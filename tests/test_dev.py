"""The README's run command, end to end: web + worker + beat + the WeCom simulator come up on the embedded
default, the printed login opens the admin, beat's heartbeats reach every queue through the worker, the
simulator's scripted customers arrive as verified callbacks that a worker processes, and Ctrl-C leaves nothing."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading

import pytest
import requests
from openapi_spec_validator import validate

from scrm.queues import Queue
from tests.conftest import ROOT
from tests.helpers import free_port, wait_until


@pytest.fixture
def dev_run(tmp_path):
    port, sim_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY"}
        and not key.startswith("WECOM_")
    }
    env.update(
        SCRM_USE_CURRENT_PYTHON="1",
        SCRM_ENV_FILE=os.devnull,
        SCRM_VAR_DIR=str(tmp_path / "var"),
        SCRM_HEARTBEAT_SECONDS="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "dev.py", "run", "--port", str(port), "--sim-port", str(sim_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    yield proc, f"http://127.0.0.1:{port}", lines, tmp_path / "var" / "db.sqlite3"
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_run_command_brings_up_the_whole_system_and_stops_cleanly(dev_run):
    proc, base, lines, database = dev_run

    assert wait_until(lambda: "[dev] ready\n" in lines, timeout=180), "".join(lines)[-4000:]
    output = "".join(lines)
    groups = [int(pid) for pid in re.findall(r"process group (\d+)", output)]
    admin_password = re.search(r"^\s+superuser\s+admin\s+(\S+)$", output, re.M).group(1)

    assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}

    session = requests.Session()
    login_page = session.get(f"{base}/admin/login/", timeout=5)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text).group(1)
    logged_in = session.post(
        f"{base}/admin/login/?next=/admin/",
        data={"username": "admin", "password": admin_password, "csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{base}/admin/login/"},
        timeout=10,
    )
    assert logged_in.status_code == 200
    assert logged_in.url == f"{base}/admin/"
    assert 'id="logout-form"' in logged_in.text

    schema = requests.get(f"{base}/api/schema/?format=json", timeout=10)
    validate(schema.json())

    def all_queues_beating():
        heartbeats = requests.get(f"{base}/readyz", timeout=10).json().get("heartbeats", {})
        return set(heartbeats) == {f"queue:{queue.value}" for queue in Queue}

    assert wait_until(all_queues_beating, timeout=60), "beat → worker heartbeats did not arrive"

    def processed_callbacks():
        with sqlite3.connect(database) as db:
            return db.execute("SELECT count(*) FROM wecom_inboxevent WHERE status IN ('done', 'unhandled')").fetchone()[
                0
            ]

    assert wait_until(processed_callbacks, timeout=60), "no simulator callback was stored and processed"
    with sqlite3.connect(database) as db:  # the simulated corp was imported once at start
        assert db.execute("SELECT count(*) FROM customers_employee WHERE name != ''").fetchone()[0] > 0
        assert db.execute("SELECT count(*) FROM groups_customergroup").fetchone()[0] > 0

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    assert len(groups) == 4  # web, worker, beat, WeCom simulator
    for pgid in groups:
        with pytest.raises(ProcessLookupError):
            os.killpg(pgid, 0)
    assert wait_until(lambda: "[dev] all processes stopped\n" in lines, timeout=5)
