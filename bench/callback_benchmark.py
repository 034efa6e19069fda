"""Callback benchmark: signed, encrypted WeCom callbacks against gunicorn, processed by a real Celery worker.

    createdb -h 127.0.0.1 -U postgres scrm_bench_cb
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_bench_cb REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python bench/callback_benchmark.py --flush

Starts ``gunicorn scrm.wsgi:application`` (production settings: DEBUG off, PostgreSQL, Redis; ``gunicorn.conf.py``
as in the image) and a ``celery worker -Q realtime`` at a lower CPU priority (``--worker-nice``), pre-encrypts N
distinct ``change_external_contact/del_follow_user`` events with ``CallbackCrypto`` (each with its own
ExternalUserID and CreateTime: the handler creates the contact, its customer and the ended relation, a loss
alert and a timeline entry), then posts them with wrk (``--threads`` connections for ``--duration`` seconds, each
event once) or Python threads, and reports acknowledged/s and p50/p95/p99 acknowledgement latency, then how long
after the last acknowledgement every InboxEvent is done, and the processing rate.

Everything runs on this machine: the load generator, gunicorn, the worker, PostgreSQL and Redis share its cores,
so the figures are a floor. Loopback only; both servers are stopped at the end (or after ``--timeout`` seconds).
``--flush`` empties every table of the database first (point it at a benchmark database only).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from common import free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent

CORP_ID = "wwbenchcorp"
TOKEN = "bench-callback-token"  # noqa: S105 - a throwaway corp on loopback
AES_KEY = base64.b64encode(bytes(range(100, 132))).decode().rstrip("=")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--client",
        choices=["wrk", "python"],
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator: wrk (C, apt-get install wrk; the default when installed) or Python threads, which "
        "take CPU from the servers on a small machine",
    )
    parser.add_argument(
        "--events", type=int, default=25000, help="distinct callbacks (python: posted; wrk: the pool, each posted once)"
    )
    parser.add_argument("--duration", type=int, default=30, help="seconds of load (wrk)")
    parser.add_argument(
        "--threads", type=int, default=8, help="connections, each one request at a time (python: a thread each)"
    )
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (the image's default)")
    parser.add_argument(
        "--gunicorn-threads", type=int, default=4, help="threads per gunicorn worker (gthread; the image's default)"
    )
    parser.add_argument("--celery-concurrency", type=int, default=2)
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=10,
        help="the worker's nice level: acknowledgements win the CPU and processing uses the slack, as the worker's "
        "cpu_shares of 256 make it in docker/docker-compose.yml (0: the same priority as gunicorn)",
    )
    parser.add_argument("--port", type=int, default=0, help="gunicorn port (0: a free one)")
    parser.add_argument("--timeout", type=float, default=300, help="give up after this many seconds")
    parser.add_argument("--flush", action="store_true", help="empty the (benchmark!) database first")
    parser.add_argument(
        "--no-worker", action="store_true", help="diagnostic: acknowledgements only, nothing processes the events"
    )
    parser.add_argument(
        "--settings",
        default="scrm.settings.base",
        help="settings module for gunicorn and the worker ",
    )
    args = parser.parse_args()
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url.startswith("postgres") or not redis_url:
        print(
            "set DATABASE_URL (PostgreSQL) and REDIS_URL: the benchmark measures the production setup", file=sys.stderr
        )
        return 2

    var_dir = tempfile.mkdtemp(prefix="scrm-bench-callback-")
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE=args.settings,
        SCRM_VAR_DIR=var_dir,
        DEBUG="false",
        SECURE_SSL_REDIRECT="false",
        ALLOWED_HOSTS="127.0.0.1",
        SECRET_KEY=os.environ.get("SECRET_KEY") or base64.b64encode(os.urandom(32)).decode(),
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        WECOM_CORP_ID=CORP_ID,
        WECOM_CALLBACK_TOKEN=TOKEN,
        WECOM_CALLBACK_AES_KEY=AES_KEY,
        PYTHONUNBUFFERED="1",
    )
    os.environ.update(env)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop the servers (the finally below)
    import django

    django.setup()
    from django.core.management import call_command

    from scrm.wecom.models import InboxEvent

    call_command("migrate", verbosity=0)
    if args.flush:
        call_command("flush", interactive=False, verbosity=0)
    if InboxEvent.objects.exists():
        print("the database already holds inbox events: use an empty one or --flush", file=sys.stderr)
        return 2

    port = args.port or free_port()
    deadline = time.monotonic() + args.timeout
    processes: list[subprocess.Popen] = []
    logs = Path(var_dir)
    try:
        if not args.no_worker:
            processes.append(_start_worker(args, env, logs / "worker.log"))
        processes.append(_start_gunicorn(args, env, port, logs / "gunicorn.log"))
        _wait_for_http(port, deadline, processes[-1])
        if not args.no_worker:
            _wait_for_worker(deadline)
        return _run(args, port, deadline)
    finally:
        for process in processes:
            _stop(process)
        print(f"logs: {logs}")


# ---- processes -------------------------------------------------------------------------------------------------


def _start_worker(args, env, log: Path) -> subprocess.Popen:
    command = [
        *(["nice", "-n", str(args.worker_nice)] if args.worker_nice else []),
        str(VENV_BIN / "celery"),
        "-A",
        "scrm",
        "worker",
        "-Q",
        "realtime",
        "-c",
        str(args.celery_concurrency),
        "-l",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "-n",
        f"bench-{uuid.uuid4().hex[:6]}@%h",
    ]
    return subprocess.Popen(  # noqa: S603 - our own venv's executables, fixed arguments
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _start_gunicorn(args, env, port: int, log: Path) -> subprocess.Popen:
    command = [
        str(VENV_BIN / "gunicorn"),
        "scrm.wsgi:application",
        "-w",
        str(args.workers),
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--worker-tmp-dir",
        "/dev/shm",  # noqa: S108 - as in docker/Dockerfile: the workers' heartbeat file in memory
    ]
    if args.gunicorn_threads > 1:
        command += ["--threads", str(args.gunicorn_threads)]
    return subprocess.Popen(  # noqa: S603 - our own venv's executables, fixed arguments
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # its own session: the master and its workers, nothing else
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _wait_for_http(port: int, deadline: float, server: subprocess.Popen) -> None:
    while time.monotonic() < deadline and server.poll() is None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /healthz (see gunicorn.log)")


def _wait_for_worker(deadline: float) -> None:
    from scrm.celery import app

    while time.monotonic() < deadline:
        if app.control.ping(timeout=1):
            return
    raise SystemExit("the Celery worker did not answer a ping in time")


# ---- load ------------------------------------------------------------------------------------------------------


def _requests(count: int, offset: int) -> list[tuple[str, bytes]]:
    """(path with signed query, encrypted body) for ``count`` distinct del_follow_user events."""
    from scrm.wecom.crypto import CallbackCrypto

    crypto = CallbackCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=CORP_ID)
    now = int(time.time())
    prepared = []
    for n in range(offset, offset + count):
        xml = (
            f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{1_700_000_000 + n}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[del_follow_user]]></ChangeType>"
            f"<UserID><![CDATA[sales{n % 50:04d}]]></UserID>"
            f"<ExternalUserID><![CDATA[wmbench{n:010d}]]></ExternalUserID></xml>"
        )
        nonce = uuid.uuid4().hex[:10]
        body, signature = crypto.encrypt_to_xml(xml, timestamp=str(now), nonce=nonce)
        prepared.append((f"/wecom/callback?msg_signature={signature}&timestamp={now}&nonce={nonce}", body.encode()))
    return prepared


def _fire(port: int, prepared: list[tuple[str, bytes]], threads: int, deadline: float):
    """Post every request from ``threads`` threads; returns (latencies of acknowledged posts, failures, seconds)."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    index = iter(range(len(prepared)))

    def client() -> None:
        mine, bad = [], []
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Content-Type": "text/xml"}
        while time.monotonic() < deadline:
            with lock:
                n = next(index, None)
            if n is None:
                break
            path, body = prepared[n]
            began = time.perf_counter()
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                if response.will_close:
                    connection.close()  # gunicorn's sync workers close after each response
            except OSError as exc:
                connection.close()
                bad.append(f"{type(exc).__name__}: {exc}")
                continue
            if response.status == 200 and answer == b"success":
                mine.append(time.perf_counter() - began)
            else:
                bad.append(f"HTTP {response.status}: {answer[:80]!r}")
        with lock:
            latencies.extend(mine)
            failures.extend(bad)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies, failures, time.perf_counter() - started


def _run(args, port: int, deadline: float) -> int:
    from django.db.models import Count

    from scrm.wecom.models import InboxEvent

    warmup = _requests(100, offset=10_000_000)  # warms the gunicorn workers and the worker's connections
    _fire(port, warmup, args.threads, deadline)
    prepared = _requests(args.events, offset=0)
    if not args.no_worker:
        _wait_done(len(warmup), deadline)

    load = _load_wrk(args, port, prepared) if args.client == "wrk" else _load_python(args, port, prepared, deadline)
    last_ack = time.perf_counter()
    # wrk stops with requests in flight: the server may have stored a few it never got to acknowledge.
    total = _wait_stored(deadline)
    all_done = last_ack if args.no_worker else _wait_done(total, deadline)
    statuses = dict(InboxEvent.objects.order_by().values_list("status").annotate(n=Count("pk")))
    print(
        f"settings: {args.settings}; gunicorn: {args.workers} workers × {args.gunicorn_threads} threads; "
        f"worker: {'none' if args.no_worker else f'-c {args.celery_concurrency}, nice {args.worker_nice}'}; "
        f"client: {args.client}, {args.threads} connections"
    )
    acked, seconds = load["acked"], load["seconds"]
    print(f"acknowledged: {acked} in {seconds:.2f} s = {acked / seconds:,.0f}/s; failures: {load['failures']}")
    if load.get("first_failure"):
        print(f"  first failure: {load['first_failure']}")
    if load.get("wrapped"):
        print(f"  the pool of {args.events} callbacks ran out ({load['wrapped']} times): raise --events")
    if acked:
        print(
            "ack latency: p50 {:.1f} ms, p95 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms, mean {:.1f} ms".format(
                *(1000 * load[key] for key in ("p50", "p95", "p99", "max", "mean"))
            )
        )
    print(f"inbox: {statuses}")
    ok = acked > 0 and not load["failures"] and not load.get("wrapped")
    if args.no_worker:
        return 0 if ok and statuses.get("pending") == total else 1
    if all_done == float("inf"):
        print("processing did NOT finish before the timeout")
        return 1
    processed_after = all_done - last_ack
    print(
        f"processing: every event done {processed_after:.2f} s after the last ack; "
        f"{(total - len(warmup)) / (seconds + processed_after):,.0f} events/s processed over the run"
    )
    return 0 if ok and statuses.get("done") == total else 1


def _load_python(args, port: int, prepared, deadline: float) -> dict:
    latencies, failures, seconds = _fire(port, prepared, args.threads, deadline)
    latencies.sort()
    n = len(latencies)
    figures = {f"p{q}": latencies[min(n - 1, n * q // 100)] for q in (50, 95, 99)} if n else {}
    return {
        "acked": n,
        "seconds": seconds,
        "failures": len(failures),
        "first_failure": failures[0] if failures else "",
        **figures,
        "max": latencies[-1] if n else 0,
        "mean": statistics.fmean(latencies) if n else 0,
    }


def _load_wrk(args, port: int, prepared) -> dict:
    """One wrk thread (it needs a fraction of a core) with ``--threads`` connections for ``--duration`` s."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pool:
        for path, body in prepared:
            pool.write(f"{path}\t{body.decode()}\n")
    try:
        output = subprocess.run(  # noqa: S603 - wrk from PATH, fixed arguments
            [
                shutil.which("wrk"),
                "-t1",
                f"-c{args.threads}",
                f"-d{args.duration}s",
                "--timeout",
                "10s",
                "-s",
                str(Path(__file__).with_name("callback_wrk.lua")),
                f"http://127.0.0.1:{port}",
                "--",
                pool.name,
                "1",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(pool.name)
    result = dict(re.findall(r"(\w+)=(\d+)", " ".join(re.findall(r"^(?:RESULT|LATENCY) (.*)$", output, re.M))))
    bad = int(result["bad"]) + int(result["socket_errors"]) + int(result["timeouts"])
    first = re.search(r"^FIRST_BAD (.*)$", output, re.M)
    return {
        "acked": int(result["requests"]) - int(result["bad"]),
        "seconds": int(result["duration_us"]) / 1e6,
        "failures": bad,
        "first_failure": first.group(1) if first else "",
        "wrapped": int(result["wrapped"]),
        **{key: int(result[key]) / 1e6 for key in ("p50", "p95", "p99", "max", "mean")},
    }


def _wait_stored(deadline: float) -> int:
    """How many inbox events there are once the count stops changing (the last posts are stored)."""
    from scrm.wecom.models import InboxEvent

    count = -1
    while time.monotonic() < deadline:
        now = InboxEvent.objects.count()
        if now == count:
            return count
        count = now
        time.sleep(0.3)
    return count


def _wait_done(total: int, deadline: float) -> float:
    from scrm.wecom.models import InboxEvent

    while time.monotonic() < deadline:
        if InboxEvent.objects.filter(status=InboxEvent.Status.DONE).count() >= total:
            return time.perf_counter()
        time.sleep(0.05)
    return float("inf")


if __name__ == "__main__":
    sys.exit(main())
