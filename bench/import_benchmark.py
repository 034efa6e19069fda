"""Follow-up import benchmark: a million call rows into a database that already holds a million customers and
ten million timeline entries.

    createdb -h 127.0.0.1 -U postgres scrm_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_bench \\
        .venv/bin/python bench/import_benchmark.py --flush --customers 1000000 --timeline 10000000 --rows 1000000

1. Seeds the database in SQL (``generate_series``): N customers (mobiles 139…) and M timeline entries spread
   over them, a mix of WeCom chats (random msgid keys), older calls and SMS. The timeline's two secondary
   indexes are dropped during the bulk insert and built again after it, which is much faster than maintaining
   them row by row. ``--seed-only`` stops here; ``--skip-seed`` reuses a seeded database and first removes what
   an earlier run imported (then VACUUM ANALYZE).
2. Writes a calls CSV: ``--rows`` rows over ``--phones`` distinct mainland mobiles, half of them existing
   customers (written in several spellings), sorted by time (one month), 90 % with an employee, 10 % with a
   remark, and one row in a thousand with an invalid phone number.
3. Runs the real ``followups_import`` in this process and prints rows/s end to end (reading the file included),
   the job's counts, the CPU time of this process (every thread) and its peak RSS. ``--reimport`` runs the same
   file again (every row a duplicate); ``--xlsx-rows N`` also imports an N-row XLSX file of new calls.

Options: ``--profile FILE`` (a cProfile dump of the import's main thread), ``--query-stats`` (database time by
statement, summed over the writer threads), ``--chunk-size``, ``--writers``. Not a test: nothing here asserts a
speed; it checks only that the counts add up.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import django_for_benchmark  # noqa: E402

SEED_BEFORE = datetime(2024, 5, 1, tzinfo=UTC)  # every seeded entry and "last contact" is older than this
IMPORT_FROM = datetime(2024, 6, 1, tzinfo=UTC)  # the CSV covers the 30 days from here, the XLSX the next 30
EMPLOYEES = 50
HEADER = ["手机号", "通话时间", "方向", "通话时长(秒)", "员工", "备注"]
REMARKS = ["客户咨询价格", "预约到店", "未接通", "已发优惠券", "要求回电"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--timeline", type=int, default=10_000_000)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the calls CSV")
    parser.add_argument("--phones", type=int, default=300_000, help="distinct phone numbers in the CSV")
    parser.add_argument("--flush", action="store_true", help="empty the (benchmark!) database first")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--skip-seed", action="store_true", help="reuse the seeded database of an earlier run")
    parser.add_argument("--file", help="CSV to write (or reuse, if it exists) instead of a temporary one")
    parser.add_argument("--reimport", action="store_true", help="import the same file a second time")
    parser.add_argument("--xlsx-rows", type=int, default=0, help="also import an XLSX file with this many rows")
    parser.add_argument("--chunk-size", type=int, default=0)
    parser.add_argument("--writers", type=int, help="threads storing chunks (default: the service's)")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile dump of the import to FILE")
    parser.add_argument("--query-stats", action="store_true", help="print database time by kind of statement")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("this benchmark needs DATABASE_URL=postgres://… (it seeds with PostgreSQL SQL)", file=sys.stderr)
        return 2
    django_for_benchmark("import")
    from django.core.management import call_command

    if args.flush:
        call_command("flush", interactive=False, verbosity=0)  # TRUNCATE: .delete() would load every row
    if args.skip_seed:
        reset_imported()
    else:
        seed(args.customers, args.timeline)
    if args.seed_only:
        return 0

    path = Path(args.file) if args.file else Path(tempfile.mkdtemp(prefix="scrm-bench-import-")) / "calls.csv"
    if not path.exists():
        began = time.perf_counter()
        write_csv(path, rows=args.rows, phones=args.phones, customers=args.customers)
        print(f"file: {path} ({path.stat().st_size / 1e6:.0f} MB, written in {time.perf_counter() - began:.1f} s)")
    ok = run_import(path, "calls", args, label="CSV")
    if args.reimport:
        ok &= run_import(path, "calls", args, label="CSV again (all duplicates)", profile=False)
    if args.xlsx_rows:
        xlsx = path.with_suffix(".xlsx")
        began = time.perf_counter()
        write_xlsx(xlsx, rows=args.xlsx_rows, customers=args.customers)
        print(f"file: {xlsx} ({xlsx.stat().st_size / 1e6:.0f} MB, written in {time.perf_counter() - began:.1f} s)")
        ok &= run_import(xlsx, "calls", args, label="XLSX", profile=False)
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB (this process, all runs)")
    return 0 if ok else 1


def seed(customers: int, timeline: int) -> None:
    from django.db import connection

    from customers.models import Customer, TimelineEntry

    if Customer.objects.exists():
        print("the database already holds customers: use --flush, or --skip-seed to reuse them", file=sys.stderr)
        raise SystemExit(2)
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
        cursor.execute("SET maintenance_work_mem TO '1GB'")
        cursor.execute(
            "INSERT INTO customers_employee (created_at, updated_at, userid, name, department_ids, status, avatar)"
            " SELECT now(), now(), 'emp' || lpad(i::text, 3, '0'), '员工' || i, '[1]', 'active', ''"
            " FROM generate_series(1, %s) AS i",
            [EMPLOYEES],
        )
        # phones +86139 00000001 …; last contact spread over the months before SEED_BEFORE
        cursor.execute(
            "INSERT INTO customers_customer (created_at, updated_at, phone, name, origin, lifecycle_stage,"
            " total_spend, order_count, marketing_opt_out, last_contact_at)"
            " SELECT now(), now(), '+86139' || lpad(i::text, 8, '0'), '', 'wecom', 'awareness', 0, 0, false,"
            " %s - (i %% 300) * interval '1 day' FROM generate_series(1, %s) AS i",
            [SEED_BEFORE, customers],
        )
        print(f"seed: {customers:,} customers in {time.perf_counter() - began:.0f} s", flush=True)
        cursor.execute("SELECT min(id) FROM customers_customer")
        first_id = cursor.fetchone()[0]
        with connection.schema_editor() as editor:  # build the secondary indexes once, after the bulk insert
            for index in TimelineEntry._meta.indexes:
                editor.remove_index(TimelineEntry, index)
            for constraint in TimelineEntry._meta.constraints:
                editor.remove_constraint(TimelineEntry, constraint)
        step = 1_000_000
        for start in range(1, timeline + 1, step):
            # 6 in 10 WeCom chats (random msgid keys), 3 calls and 1 SMS keyed as imports key them, one every
            # 5 seconds going back from SEED_BEFORE, customers scattered by a multiplicative step
            cursor.execute(
                "INSERT INTO customers_timelineentry (kind, channel, occurred_at, summary, content, data,"
                " source_key, created_at, customer_id, employee_id)"
                " SELECT k.kind, k.channel, t.at, '', '', '{}', CASE k.kind WHEN 'wecom_chat' THEN"
                " 'wecom:' || md5(i::text) ELSE left(k.kind, 4) || ':' || extract(epoch FROM t.at)::bigint"
                " || ':' || left(md5(i::text), 20) END, now(), %s + (i::bigint * 7919) %% %s, NULL"
                " FROM generate_series(%s, %s) AS i,"
                " LATERAL (SELECT %s - i * interval '5 seconds' AS at) AS t,"
                " LATERAL (SELECT CASE WHEN i %% 10 < 6 THEN 'wecom_chat' WHEN i %% 10 < 9 THEN 'call' ELSE 'sms'"
                " END AS kind, CASE WHEN i %% 10 < 6 THEN 'wecom' WHEN i %% 10 < 9 THEN 'phone' ELSE 'sms' END"
                " AS channel) AS k",
                [first_id, customers, start, min(start + step - 1, timeline), SEED_BEFORE],
            )
            print(f"seed: {min(start + step - 1, timeline):,} timeline entries", flush=True)
        with connection.schema_editor() as editor:
            for constraint in TimelineEntry._meta.constraints:
                editor.add_constraint(TimelineEntry, constraint)
            for index in TimelineEntry._meta.indexes:
                editor.add_index(TimelineEntry, index)
        cursor.execute("VACUUM ANALYZE customers_customer")
        cursor.execute("VACUUM ANALYZE customers_timelineentry")
    print(f"seed: done in {time.perf_counter() - began:.0f} s", flush=True)


def reset_imported() -> None:
    """Take back what an earlier run imported: its entries, the customers it created, last contact times."""
    from django.db import connection

    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM customers_timelineentry WHERE data ? 'import'")
        entries = cursor.rowcount
        cursor.execute("DELETE FROM customers_customer WHERE origin = 'import'")
        created = cursor.rowcount
        cursor.execute(
            "UPDATE customers_customer SET last_contact_at = %s - (id %% 300) * interval '1 day'"
            " WHERE last_contact_at >= %s",
            [SEED_BEFORE, SEED_BEFORE],
        )
        cursor.execute("DELETE FROM customers_importjob")
        cursor.execute("VACUUM ANALYZE customers_customer")
        cursor.execute("VACUUM ANALYZE customers_timelineentry")
    print(f"reset: removed {entries:,} imported entries and {created:,} imported customers in "
          f"{time.perf_counter() - began:.0f} s")  # fmt: skip


def phone_pool(count: int, customers: int, rng: random.Random) -> list[str]:
    """Half existing customers (+86139…), half new numbers (136…), in the spellings staff type."""
    existing = [f"139{i:08d}" for i in rng.sample(range(1, customers + 1), min(count // 2, customers))]
    new = [f"136{i:08d}" for i in rng.sample(range(10**8), count - len(existing))]
    spellings = [lambda n: n, lambda n: n, lambda n: n, lambda n: f"+86 {n[:3]} {n[3:7]} {n[7:]}", lambda n: f"86{n}"]
    return [rng.choice(spellings)(number) for number in existing + new]


def call_rows(count: int, *, phones: list[str], start: datetime, rng: random.Random):
    step = timedelta(days=30) / count
    local = timedelta(hours=8)  # the file is in Beijing time, as TIME_ZONE reads it
    for i in range(count):
        phone = "12345" if i % 1000 == 999 else rng.choice(phones)
        yield [
            phone,
            (start + local + i * step).strftime("%Y-%m-%d %H:%M:%S"),
            "呼入" if rng.random() < 0.4 else "呼出",
            rng.randrange(0, 600),
            f"emp{rng.randrange(1, EMPLOYEES + 1):03d}" if rng.random() < 0.9 else "",
            rng.choice(REMARKS) if rng.random() < 0.1 else "",
        ]


def write_csv(path: Path, *, rows: int, phones: int, customers: int) -> None:
    import csv

    rng = random.Random(42)  # noqa: S311 - test data
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADER)
        writer.writerows(call_rows(rows, phones=phone_pool(phones, customers, rng), start=IMPORT_FROM, rng=rng))


def write_xlsx(path: Path, *, rows: int, customers: int) -> None:
    from openpyxl import Workbook

    rng = random.Random(7)  # noqa: S311 - test data
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(HEADER)
    phones = phone_pool(max(rows // 3, 2), customers, rng)
    for row in call_rows(rows, phones=phones, start=IMPORT_FROM + timedelta(days=30), rng=rng):
        row[1] = datetime.strptime(row[1], "%Y-%m-%d %H:%M:%S")  # a date cell, as Excel stores it
        sheet.append(row)
    workbook.save(path)


def run_import(path: Path, kind: str, args: argparse.Namespace, *, label: str, profile: bool = True) -> bool:
    from django.db import connection
    from django.db.backends.signals import connection_created

    from customers.models import ImportJob
    from customers.services import imports

    job = ImportJob.objects.create(kind=kind, file_name=path.name)
    last = [time.perf_counter(), 0]

    def progress(done: int, total: int | None) -> None:
        now = time.perf_counter()
        if now - last[0] >= 5:
            print(f"  … {done:,}/{total or 0:,} rows, {(done - last[1]) / (now - last[0]):,.0f}/s", flush=True)
            last[:] = [now, done]

    profiler = None
    if args.profile and profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    query_stats: dict[str, list[float]] = {}
    stats_lock = threading.Lock()

    def timed(execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            kind = " ".join(sql.split()[:3])
            with stats_lock:
                entry = query_stats.setdefault(kind, [0, 0.0])
                entry[0] += 1
                entry[1] += time.perf_counter() - began

    def time_queries(sender, connection, **kwargs):  # the writer threads' connections too
        connection.execute_wrappers.append(timed)

    options = {"chunk_size": args.chunk_size} if args.chunk_size else {}
    if args.writers is not None:
        options["writers"] = args.writers
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    if args.query_stats:
        connection_created.connect(time_queries)
        try:
            with connection.execute_wrapper(timed):
                job = imports.followups_import(job=job, path=path, progress=progress, **options)
        finally:
            connection_created.disconnect(time_queries)
    else:
        job = imports.followups_import(job=job, path=path, progress=progress, **options)
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
        print(f"profile written to {args.profile} (python -m pstats {args.profile})")
    for kind_, (count, seconds) in sorted(query_stats.items(), key=lambda item: -item[1][1]):
        print(f"  {seconds:7.2f} s {count:7d} × {kind_}  (summed over the threads)")
    print(
        f"{label}: {job.status}, {job.total_rows:,} rows in {elapsed:.1f} s = {job.total_rows / elapsed:,.0f} rows/s"
        f" — {job.imported_rows:,} imported, {job.duplicate_rows:,} duplicates, {job.rejected_rows:,} rejected,"
        f" {job.customers_created:,} new customers"
    )
    print(f"  Python CPU: {cpu:.1f} s ({cpu / job.total_rows * 1e6:.0f} µs a row, all threads of this process)")
    print(f"  peak RSS so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB", flush=True)
    ok = job.status == ImportJob.Status.DONE and job.total_rows == (
        job.imported_rows + job.duplicate_rows + job.rejected_rows
    )
    if not ok:
        print(f"MISMATCH or failure: {job.message}", file=sys.stderr)
    return ok


if __name__ == "__main__":
    sys.exit(main())
