#!/usr/bin/env python3
"""The two commands, needing nothing but Python 3.11+:

    python3 dev.py run     # the whole SCRM on the embedded default: web, Celery worker and beat
    python3 dev.py test    # the whole test suite (extra arguments go to pytest)

Both create ``.venv`` and install ``requirements.txt`` when missing or changed. ``run`` migrates, creates the
demo users (printing their logins), starts web on 127.0.0.1:8000, one worker and one beat — plus the WeCom
simulator with scripted customer activity when no corp is configured — and stops them all on Ctrl-C.
Set ``SCRM_USE_CURRENT_PYTHON=1`` to use the running interpreter instead of ``.venv`` (Docker, tests).
"""

import argparse
import contextlib
import hashlib
import os
import runpy
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
REQUIREMENTS = ROOT / "requirements.txt"
STOP_GRACE_SECONDS = 15


def worker_queues() -> str:
    """Read scrm/queues.py by path: importing the scrm package would need Django and Celery installed."""
    namespace = runpy.run_path(str(ROOT / "scrm" / "queues.py"))
    return namespace["Queue"].all_names()


def wecom_configured(env: dict[str, str]) -> bool:
    """A real corp is configured in the environment or in .env (as the settings would read it)."""
    if env.get("WECOM_CORP_ID"):
        return True
    env_file = Path(env.get("SCRM_ENV_FILE") or ROOT / ".env")
    if not env_file.is_file():
        return False
    return any(
        line.split("=", 1)[0].strip() == "WECOM_CORP_ID" and line.split("=", 1)[1].strip().strip("\"'")
        for line in env_file.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )


def simulator_env(sim_port: int) -> dict[str, str]:
    """The simulator's demo corp, given to both the simulator and the app so they agree."""
    demo = runpy.run_path(str(ROOT / "scrm" / "wecom" / "simulator" / "demo.py"))["DEMO"]
    return {**demo, "WECOM_API_BASE_URL": f"http://127.0.0.1:{sim_port}/cgi-bin/"}


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def python_env() -> str:
    """The interpreter that has the requirements: .venv's, created and updated as needed."""
    if os.environ.get("SCRM_USE_CURRENT_PYTHON"):
        return sys.executable
    python = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not python.exists():
        say(f"creating virtualenv {VENV}")
        venv.create(VENV, with_pip=True)
    stamp = VENV / ".requirements.sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        say("installing requirements.txt")
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(digest)
    return str(python)


def cmd_test(pytest_args: list[str]) -> int:
    python = python_env()
    return subprocess.call([python, "-m", "pytest", *pytest_args], cwd=ROOT)


class Supervisor:
    """Starts each service in its own process group and stops every group, children included."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own group: Ctrl-C reaches us only, and we stop it as a whole
            text=True,
            errors="replace",
        )
        self.procs[name] = proc
        threading.Thread(target=self._relay, args=(name, proc), daemon=True).start()
        say(f"started {name} (pid {proc.pid}, process group {proc.pid})")

    @staticmethod
    def _relay(name: str, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            print(f"[{name}] {line}", end="", flush=True)

    def exited(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is not None]

    def stop(self) -> None:
        # SIGTERM to each leader only: Celery then shuts its pool down warmly (finishing the running task).
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop in {STOP_GRACE_SECONDS}s; killing it")
            # Leftover children (runserver's reloader child, prefork pool processes) go with the group.
            self._signal_group(proc, signal.SIGKILL)
            proc.wait()
        say("all processes stopped")

    @staticmethod
    def _signal_group(proc: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)


def wait_for_http(url: str, supervisor: Supervisor, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not supervisor.exited():
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def cmd_run(host: str, port: int, sim_port: int) -> int:
    python = python_env()
    env = dict(os.environ)
    env.setdefault("DEBUG", "true")
    env.setdefault("PYTHONUNBUFFERED", "1")
    simulate = not wecom_configured(env)
    if simulate:
        env.update(simulator_env(sim_port))
    manage = [python, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    seeded = subprocess.run([*manage, "seed_demo"], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    logins = [line.split()[1:] for line in seeded.stdout.splitlines() if line.startswith("LOGIN ")]

    supervisor = Supervisor()
    stopping = threading.Event()

    def request_stop(signum, frame):
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    celery = [python, "-m", "celery", "-A", "scrm"]
    try:
        supervisor.start("web", [*manage, "runserver", f"{host}:{port}"], env)
        supervisor.start(
            "worker",
            [*celery, "worker", "-l", "info", "-Q", worker_queues(), "-c", "2", "-n", "worker@%h"],
            env,
        )
        supervisor.start("beat", [*celery, "beat", "-l", "info"], env)
        base = f"http://{host}:{port}"
        if simulate:
            callback_url = f"http://127.0.0.1:{port}/wecom/callback"
            # No corp configured: a loopback WeCom plays customers arriving, so there is something to watch.
            supervisor.start(
                "wecom-sim",
                [*manage, "wecom_simulator", "--script", "--port", str(sim_port), "--callback-url", callback_url],
                env,
            )
        if not wait_for_http(f"{base}/healthz", supervisor):
            say("web did not come up; stopping")
            return 1
        if simulate and wait_for_http(f"http://127.0.0.1:{sim_port}/_sim/state", supervisor, timeout=30):
            # Import the simulated corp once, so the admin shows its employees, customers, groups and tags.
            subprocess.run([*manage, "wecom_sync"], cwd=ROOT, env=env, check=False)
        banner = [
            "",
            "SCRM is running (embedded default: SQLite + filesystem broker under var/). Ctrl-C stops everything.",
            f"  Admin        {base}/admin/",
            f"  API docs     {base}/api/docs/",
            f"  OpenAPI      {base}/api/schema/",
            f"  Health       {base}/healthz   Readiness {base}/readyz",
            f"  WeCom        simulator at http://127.0.0.1:{sim_port}/ (no WECOM_CORP_ID set); scripted customers"
            f" arrive every few seconds: {base}/admin/wecom/inboxevent/"
            if simulate
            else "  WeCom        the corp configured by WECOM_CORP_ID",
            "  Logins (role, user, password):",
            *(f"    {role:<10} {user:<8} {password}" for role, user, password in logins),
            "",
        ]
        print("\n".join(banner), flush=True)
        say("ready")
        while not stopping.is_set():
            if dead := supervisor.exited():
                say(f"{', '.join(dead)} exited unexpectedly; stopping the rest")
                return 1
            stopping.wait(0.5)
        return 0
    finally:
        supervisor.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run web + Celery worker + beat on the embedded default")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--sim-port", type=int, default=8900, help="WeCom simulator port (when no corp is configured)")
    sub.add_parser("test", help="run the test suite; extra arguments go to pytest")
    sub.add_parser("install", help="only create .venv and install requirements")
    args, rest = parser.parse_known_args()
    if args.command == "test":
        return cmd_test(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "run":
        return cmd_run(args.host, args.port, args.sim_port)
    python_env()
    return 0


if __name__ == "__main__":
    sys.exit(main())
