"""Full-sync benchmark: employees and contacts from the WeCom simulator (its own process) into an empty database.

    createdb -h 127.0.0.1 -U postgres scrm_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_bench REDIS_URL=redis://127.0.0.1:6379/2 \\
        .venv/bin/python bench/sync_benchmark.py --contacts 100000

Runs the real ``wecom_sync(resources=("employees", "contacts"))`` (HTTP to the simulator, the app's WeCom client
with its token store and rate limiter, the customers services, PostgreSQL) and prints contacts/s end to end and
the peak RSS of the sync's process. The database is migrated first
and must hold no contacts; ``--flush`` empties every table (point it at a benchmark database only).
``--profile FILE`` writes a cProfile dump of the sync. Not a test: nothing here asserts a speed; it checks only
that every row arrived.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CORP_ID = "wwbenchcorp"
SECRETS = {"contact": "bench-contact-secret", "agent": "bench-agent-secret"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--employees", type=int, default=50)
    parser.add_argument("--shared-every", type=int, default=10, help="every n-th customer has a second follower")
    parser.add_argument("--flush", action="store_true", help="empty the (benchmark!) database first")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile dump of the sync to FILE")
    parser.add_argument("--query-stats", action="store_true", help="print database time by kind of statement")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("warning: DATABASE_URL is not PostgreSQL; the figure will not be comparable", file=sys.stderr)

    var_dir = tempfile.mkdtemp(prefix="scrm-bench-sync-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="scrm.settings.base",
        SCRM_VAR_DIR=var_dir,
        DEBUG="false",  # DEBUG keeps every query in memory
        SECRET_KEY=os.environ.get("SECRET_KEY") or base64.b64encode(os.urandom(32)).decode(),
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        WECOM_CORP_ID=CORP_ID,
        WECOM_CONTACT_SECRET=SECRETS["contact"],
        WECOM_AGENT_SECRET=SECRETS["agent"],
        WECOM_AGENT_ID="1000002",
    )

    port = free_port()
    started = time.perf_counter()
    # A process of its own, as WeCom is: an in-process simulator would take the GIL from the sync it serves.
    sim = subprocess.Popen(  # noqa: S603 - our own manage.py with fixed arguments
        [
            sys.executable, str(ROOT / "manage.py"), "wecom_simulator", "--port", str(port),
            "--bulk-contacts", str(args.contacts), "--bulk-employees", str(args.employees),
            "--bulk-shared-every", str(args.shared_every),
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        counts = read_bulk_banner(sim)
        print(
            f"simulator: {counts['employees']} employees, {counts['customers']} customers, "
            f"{counts['follows']} follow relations (seeded in {time.perf_counter() - started:.1f} s)"
        )
        os.environ["WECOM_API_BASE_URL"] = f"http://127.0.0.1:{port}/cgi-bin/"
        return run(args, counts)
    finally:
        os.killpg(sim.pid, signal.SIGINT)
        try:
            sim.wait(timeout=10)
        except subprocess.TimeoutExpired:  # started in the background by a shell, it ignores SIGINT
            os.killpg(sim.pid, signal.SIGKILL)
            sim.wait(timeout=10)


def read_bulk_banner(sim: subprocess.Popen) -> dict[str, int]:
    """The simulator's banner says what it seeded: ``Bulk corp: E employees, C customers (F follow relations)``."""
    for line in sim.stdout:
        if match := re.search(r"Bulk corp: (\d+) employees, (\d+) customers \((\d+) follow relations\)", line):
            employees, customers, follows = map(int, match.groups())
            # Keep reading what it prints, so that a full pipe never blocks it.
            threading.Thread(target=sim.stdout.read, daemon=True).start()
            return {"employees": employees, "customers": customers, "follows": follows}
    raise SystemExit(f"the simulator stopped before it was ready (exit {sim.wait()})")


def run(args: argparse.Namespace, counts: dict[str, int]) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from customers.models import Employee, ExternalContact, FollowRelation
    from scrm.wecom.sync import wecom_sync

    call_command("migrate", verbosity=0)
    if args.flush:
        call_command("flush", interactive=False, verbosity=0)  # TRUNCATE: .delete() would load every row
    if ExternalContact.objects.exists():
        print("the database already holds contacts: use an empty one or --flush", file=sys.stderr)
        return 2
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")

    last = [time.perf_counter(), 0]

    def progress(resource_name: str, done: int) -> None:
        now = time.perf_counter()
        if resource_name == "contacts" and now - last[0] >= 5:
            print(f"  … {done} follow relations, {(done - last[1]) / (now - last[0]):,.0f}/s", flush=True)
            last[:] = [now, done]

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    query_stats: dict[str, list[float]] = {}

    def timed(execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            words = sql.split()
            kind = " ".join(words[:3] if words[0] in ("INSERT", "UPDATE") else words[:1])
            if words[0] == "SELECT":
                kind += " FROM " + sql.split(" FROM ", 1)[1].split()[0] if " FROM " in sql else ""
            entry = query_stats.setdefault(kind, [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - began

    started = time.perf_counter()
    if args.query_stats:
        with connection.execute_wrapper(timed):
            results = wecom_sync(resources=("employees", "contacts"), progress=progress)
    else:
        results = wecom_sync(resources=("employees", "contacts"), progress=progress)
    elapsed = time.perf_counter() - started
    for kind, (count, seconds) in sorted(query_stats.items(), key=lambda item: -item[1][1]):
        print(f"  {seconds:7.2f} s {count:7d} × {kind}")
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
        print(f"profile written to {args.profile} (python -m pstats {args.profile})")

    contacts, relations = ExternalContact.objects.count(), FollowRelation.objects.count()
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"results: {results}")
    print(f"rows: {Employee.objects.count()} employees, {contacts} contacts, {relations} follow relations")
    print(f"elapsed: {elapsed:.1f} s (employees + contacts, end to end)")
    print(f"throughput: {contacts / elapsed:,.0f} contacts/s ({relations / elapsed:,.0f} follow relations/s)")
    print(f"peak RSS: {peak_rss_mb:,.0f} MB (the sync's process)")
    ok = (
        contacts == counts["customers"]
        and relations == counts["follows"]
        and "error" not in results.get("contacts", {})
    )
    if not ok:
        print("MISMATCH: the database does not hold what the simulator has", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
