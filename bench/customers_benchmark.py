"""Customers API benchmark: phone lookup and the customer 360 view on 1,000,000 customers and 10,000,000 timeline
entries, measured warm through the Django test client as an ops user.

    createdb -h 127.0.0.1 -U postgres scrm_bench_api
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_bench_api .venv/bin/python bench/customers_benchmark.py
    # again, reusing the data: the same command with --skip-seed

Seeding is set-based SQL (``INSERT … SELECT … FROM generate_series``), with the timeline's secondary indexes
built after the load, then ``VACUUM ANALYZE``. Besides customers and timeline entries it adds what makes a 360
view realistic: employees, WeCom contacts and follow relations with corp tags, customer groups and members,
orders and stage changes. One customer in a thousand is "heavy" (1,000 timeline entries, 100 orders, 100 stage
changes, 5 contacts, groups); the others have about 9 entries on average.

Measured: ``customer_by_phone`` (the selector) and ``GET /api/customers/by-phone/`` over random numbers in mixed
spellings, and ``GET /api/customers/{id}/`` over random customers, a tenth of them heavy. Each after a warm-up.
Targets (the issue): phone lookup p99 ≤ 5 ms, 360 p95 ≤ 50 ms. Not a test: nothing here fails on a speed; it
checks only that every answer was a 200 for the right customer. ``--flush`` empties the customers' tables
(point it at a benchmark database only); ``--explain`` prints the plans of the 360 view's queries for a heavy
customer; ``--profile FILE`` writes a cProfile dump of the measured 360 requests.
"""

# SQL here is built from model table names and integers only; random only picks the sample.
# ruff: noqa: S608, S311

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import django_for_benchmark  # noqa: E402

HEAVY_EVERY = 1000  # one customer in this many is heavy
HEAVY_ENTRIES, HEAVY_ORDERS, HEAVY_STAGES, HEAVY_CONTACTS = 1000, 100, 100, 5
EMPLOYEES, TAG_GROUPS, TAGS_PER_GROUP, GROUPS = 200, 10, 8, 20_000
BENCH_USER = "bench-ops"
EPOCH = "timestamptz '2024-01-01'"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--timeline", type=int, default=10_000_000, help="timeline entries in all")
    parser.add_argument("--skip-seed", action="store_true", help="reuse the data a previous run seeded")
    parser.add_argument("--flush", action="store_true", help="empty the customers' tables first (benchmark DB!)")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--views", type=int, default=500)
    parser.add_argument("--seed", type=int, default=42, help="of the random sample")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--auth", choices=["session", "token"], default="session", help="how the test client signs in")
    parser.add_argument("--profile", metavar="FILE")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("DATABASE_URL must point at a PostgreSQL benchmark database", file=sys.stderr)
        return 2

    django_for_benchmark("api")
    from django.db import connection

    if args.flush:
        flush()
    if args.skip_seed:
        if not customers_exist():
            print("--skip-seed, but the database holds no customers: seed it first", file=sys.stderr)
            return 2
        # a migration since the seed may have rebuilt indexes, and a rebuilt expression index has no statistics
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    else:
        if customers_exist():
            print("the database already holds customers: --skip-seed to reuse them, or --flush", file=sys.stderr)
            return 2
        seed(args.customers, args.timeline)
    print_counts()
    return measure(args)


# ---- seeding --------------------------------------------------------------------------------------------------


def customers_exist() -> bool:
    from customers.models import Customer

    return Customer.objects.exists()


def flush() -> None:
    from django.db import connection

    from customers.models import Customer, Employee, ExternalContact, FollowRelation, Order, StageChange, TimelineEntry
    from groups.models import CustomerGroup, GroupMember
    from tagging.models import Tag, TagGroup

    models = [TimelineEntry, Order, StageChange, FollowRelation, ExternalContact, Customer, Employee]
    models += [GroupMember, CustomerGroup, Tag, TagGroup]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(m._meta.db_table for m in models)} RESTART IDENTITY CASCADE")
    print("flushed the customers' tables")


def insert_select(model, exprs: dict[str, str], source: str) -> int:
    """``INSERT INTO <model> (...) SELECT <exprs> FROM <source>``; columns not in ``exprs`` get their field's
    default (timestamps now()), so the seed follows the models instead of restating every column."""
    from django.db import connection, models

    columns, values, params = [], [], []
    for field in model._meta.concrete_fields:
        name = field.attname
        if name in exprs:
            columns.append(name)
            values.append(exprs[name].replace("%", "%%"))  # SQL's modulo, not a placeholder
        elif field.primary_key:
            continue
        elif isinstance(field, models.DateTimeField) and (field.auto_now or field.auto_now_add):
            columns.append(name)
            values.append("now()")
        elif field.has_default() or not field.null:
            default = field.get_default()  # "" for a blank CharField without a default
            if default is None and not field.null:
                raise ValueError(f"{model.__name__}.{name} needs a value")
            columns.append(name)
            if isinstance(field, models.JSONField):
                values.append("%s::jsonb")
                params.append(json.dumps(default))
            else:
                values.append("%s")
                params.append(default)
    source = source.replace("%", "%%")
    quoted = ", ".join(f'"{column}"' for column in columns)
    sql = f"INSERT INTO {model._meta.db_table} ({quoted}) SELECT {', '.join(values)} FROM {source}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def step(label: str, fn, *args) -> None:
    started = time.perf_counter()
    rows = fn(*args)
    print(f"  {label}: {rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)


def seed(n_customers: int, n_timeline: int) -> None:
    from django.db import connection, transaction

    from customers.models import (
        Customer,
        Employee,
        ExternalContact,
        FollowRelation,
        Lifecycle,
        OpportunityStage,
        Order,
        StageChange,
        TimelineEntry,
    )
    from groups.models import CustomerGroup, GroupMember
    from tagging.models import Tag, TagGroup

    print(f"seeding {n_customers:,} customers and {n_timeline:,} timeline entries …", flush=True)
    started = time.perf_counter()
    heavy = n_customers // HEAVY_EVERY
    light_entries = n_timeline - heavy * HEAVY_ENTRIES
    if light_entries < 0:
        raise SystemExit("--timeline is too small for the heavy customers")
    stage_ids = list(OpportunityStage.objects.order_by("id").values_list("id", flat=True))
    lifecycles = "ARRAY[" + ",".join(f"'{v}'" for v in Lifecycle.values) + "]"
    kinds = "ARRAY['wecom_chat','call','sms','note','wecom_chat','call','wecom_chat','order']"
    channels = "ARRAY['wecom','phone','sms','staff','wecom','phone','wecom','system']"
    timeline = TimelineEntry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET work_mem = '256MB'")
        # Foreign keys are DEFERRABLE INITIALLY DEFERRED: checked at commit from a queue of one event per row.
        # The seed is consistent by construction, so skip them (a superuser setting, for this session only).
        cursor.execute("SET session_replication_role = replica")
        with transaction.atomic():
            e0 = next_id(cursor, Employee)
            step(
                "employees",
                insert_select,
                Employee,
                {"id": f"{e0} + g", "userid": "'bench-emp-' || g", "name": "'员工' || g"},
                f"generate_series(0, {EMPLOYEES - 1}) g",
            )
            c0 = next_id(cursor, Customer)
            # Unique valid mainland mobiles: 13x plus i·7919 mod 10⁹ (7919 is coprime with 10⁹). Every 20th customer
            # has no number yet (a WeCom contact without a remark mobile).
            step(
                "customers",
                insert_select,
                Customer,
                {
                    "id": f"{c0} + i",
                    "phone": "CASE WHEN i % 20 = 19 THEN '' ELSE "
                    "'+86' || (13000000000 + (i::bigint * 7919) % 1000000000)::text END",
                    "name": "'客户' || i",
                    "owner_id": f"{e0} + i % {EMPLOYEES}",
                    "origin": "CASE WHEN i % 3 = 0 THEN 'wecom' ELSE 'import' END",
                    "lifecycle_stage": f"({lifecycles})[1 + i % 5]",
                    "opportunity_stage_id": f"(ARRAY{stage_ids})[1 + i % {len(stage_ids)}]" if stage_ids else "NULL",
                    # spread over two years; Knuth's multiplicative hash scatters neighbouring ids
                    "last_contact_at": f"{EPOCH} + ((i::bigint * 2654435761) % 63072000) * interval '1s'",
                    "marketing_opt_out": "i % 50 = 0",
                },
                f"generate_series(0, {n_customers - 1}) i",
            )
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{Customer._meta.db_table}', 'id'), {c0 + n_customers})"
            )
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{Employee._meta.db_table}', 'id'), {e0 + EMPLOYEES})"
            )

            # The timeline: its two secondary indexes are built after the load (a sort beats 10⁷ index inserts).
            cursor.execute(f"ALTER TABLE {timeline} DROP CONSTRAINT customers_timeline_source_key_uniq")
            cursor.execute("DROP INDEX customers_timeline_newest")
            entry = {
                "kind": f"({kinds})[(1 + j % 8)::int]",
                "channel": f"({channels})[(1 + j % 8)::int]",
                "employee_id": f"{e0} + j % {EMPLOYEES}",
                "summary": "'跟进记录 #' || j",
                "content": "CASE WHEN j % 4 = 0 THEN '客户询问了价格和发货时间，约好下周再联系。' ELSE '' END",
                "data": "'{}'::jsonb",
                "source_key": "'bench:' || j",
            }
            # light customers: entry j belongs to customer (j·7919 mod N), about 9 each; timestamps over two years
            # (with ties, as minute-resolution call logs have)
            step(
                "timeline (spread)",
                insert_select,
                TimelineEntry,
                {
                    **entry,
                    "customer_id": f"{c0} + (j * 7919) % {n_customers}",
                    "occurred_at": "timestamptz '2024-01-01' + ((j * 2654435761) % 1051200) * interval '1 min'",
                },
                f"generate_series(0::bigint, {light_entries - 1}) j",
            )
            step(
                "timeline (heavy customers)",
                insert_select,
                TimelineEntry,
                {
                    **entry,
                    "customer_id": f"{c0} + h * {HEAVY_EVERY}",
                    "occurred_at": "timestamptz '2024-01-01' + (k * 1051) * interval '1 min'",
                    "source_key": "'bench-heavy:' || h || ':' || k",
                    "kind": f"({kinds})[1 + k % 8]",
                    "channel": f"({channels})[1 + k % 8]",
                    "employee_id": f"{e0} + k % {EMPLOYEES}",
                    "summary": "'跟进记录 ' || h || '/' || k",
                    "content": "''",
                },
                f"generate_series(0, {heavy - 1}) h, generate_series(1, {HEAVY_ENTRIES}) k",
            )
        started_index = time.perf_counter()
        cursor.execute(f"ALTER TABLE {timeline} ADD CONSTRAINT customers_timeline_source_key_uniq UNIQUE (source_key)")
        cursor.execute(f"CREATE INDEX customers_timeline_newest ON {timeline} (customer_id, occurred_at DESC, id DESC)")
        print(f"  timeline indexes: {time.perf_counter() - started_index:.1f} s", flush=True)

        with transaction.atomic():
            g0 = next_id(cursor, TagGroup)
            step(
                "tag groups",
                insert_select,
                TagGroup,
                {"id": f"{g0} + g", "group_id": "'bench-tg-' || g", "name": "'标签组' || g", "order": "g"},
                f"generate_series(0, {TAG_GROUPS - 1}) g",
            )
            step(
                "tags",
                insert_select,
                Tag,
                {
                    "tag_id": "'bench-tag-' || g || '-' || t",
                    "group_id": f"{g0} + g",
                    "name": "'标签' || g || '-' || t",
                    "order": "t",
                },
                f"generate_series(0, {TAG_GROUPS - 1}) g, generate_series(0, {TAGS_PER_GROUP - 1}) t",
            )
            g, t = TAG_GROUPS, TAGS_PER_GROUP
            tag_list = (
                f"jsonb_build_array('bench-tag-' || (x % {g}) || '-' || (x % {t}), "
                f"'bench-tag-' || ((x / 7) % {g}) || '-' || ((x / 3) % {t}))"
            )
            # WeCom contacts: every 3rd customer (origin wecom) has one; heavy customers have five.
            x0 = next_id(cursor, ExternalContact)
            step(
                "contacts",
                insert_select,
                ExternalContact,
                {
                    "id": f"{x0} + i / 3",
                    "external_userid": "'wmbench' || i",
                    "name": "'微信用户' || i",
                    "type": "1",
                    "customer_id": f"{c0} + i",
                },
                f"generate_series(0, {n_customers - 1}, 3) i",
            )
            x_light = (n_customers - 1) // 3 + 1
            step(
                "contacts (heavy customers)",
                insert_select,
                ExternalContact,
                {
                    "id": f"{x0 + x_light} + h * {HEAVY_CONTACTS} + k",
                    "external_userid": "'wmbenchheavy' || h || '-' || k",
                    "name": "'微信用户 ' || h || '-' || k",
                    "type": "1",
                    "customer_id": f"{c0} + h * {HEAVY_EVERY}",
                },
                f"generate_series(0, {heavy - 1}) h, generate_series(0, {HEAVY_CONTACTS - 1}) k",
            )
            n_contacts = x_light + heavy * HEAVY_CONTACTS
            sequence_past(cursor, ExternalContact, x0 + n_contacts)
            # one follower each, a second one for every 4th contact; tags as WeCom ids on the relation
            for label, extra in (("follow relations", ""), ("second followers", " WHERE x % 4 = 0")):
                step(
                    label,
                    insert_select,
                    FollowRelation,
                    {
                        "employee_id": f"{e0} + (x + {1 if extra else 0} * 37) % {EMPLOYEES}",
                        "contact_id": f"{x0} + x",
                        "remark": "'备注' || x",
                        "state": "'channel-' || x % 30",
                        "add_way": "1",
                        "added_at": "timestamptz '2024-01-01' + x * interval '1 min'",
                        "wecom_tag_ids": tag_list if not extra else "'[]'::jsonb",
                    },
                    f"generate_series(0, {n_contacts - 1}) x{extra}",
                )
            q0 = next_id(cursor, CustomerGroup)
            step(
                "customer groups",
                insert_select,
                CustomerGroup,
                {
                    "id": f"{q0} + g",
                    "chat_id": "'wrbench' || g",
                    "name": "'福利群' || g",
                    "owner_userid": f"'bench-emp-' || g % {EMPLOYEES}",
                    "member_count": "0",
                    "synced_at": "now()",
                },
                f"generate_series(0, {GROUPS - 1}) g",
            )
            # each contact in one group; heavy customers' contacts in three
            step(
                "group members",
                insert_select,
                GroupMember,
                {
                    "group_id": f"{q0} + (c.id * 13 + s * 7) % {GROUPS}",
                    "member_id": "c.external_userid",
                    "member_type": "2",
                    "join_time": "timestamptz '2024-06-01' + c.id * interval '1 min'",
                    "join_scene": "3",
                },
                f"{ExternalContact._meta.db_table} c, generate_series(0, 2) s "
                "WHERE s = 0 OR c.external_userid LIKE 'wmbenchheavy%'",
            )
            cursor.execute(
                f"UPDATE {CustomerGroup._meta.db_table} g SET member_count = m.n FROM "
                f"(SELECT group_id, count(*) n FROM {GroupMember._meta.db_table} GROUP BY group_id) m "
                "WHERE m.group_id = g.id"
            )
            # orders: every 2nd customer one or two, heavy customers 100
            step(
                "orders",
                insert_select,
                Order,
                {
                    "customer_id": f"{c0} + i",
                    "external_id": "'bench-o-' || i || '-' || k",
                    "amount": "(i % 997) + 9.90",
                    "ordered_at": "timestamptz '2024-01-01' + ((i * 31 + k * 7919) % 1051200) * interval '1 min'",
                    "source": "'taobao'",
                },
                f"generate_series(0, {n_customers - 1}, 2) i, generate_series(0, 1) k WHERE k = 0 OR i % 6 = 0",
            )
            step(
                "orders (heavy customers)",
                insert_select,
                Order,
                {
                    "customer_id": f"{c0} + h * {HEAVY_EVERY}",
                    "external_id": "'bench-oh-' || h || '-' || k",
                    "amount": "199.00",
                    "ordered_at": "timestamptz '2024-01-01' + k * interval '1 day'",
                    "source": "'youzan'",
                },
                f"generate_series(0, {heavy - 1}) h, generate_series(1, {HEAVY_ORDERS}) k",
            )
            cursor.execute(
                f"UPDATE {Customer._meta.db_table} c SET total_spend = o.total, order_count = o.n FROM "
                f"(SELECT customer_id, sum(amount) total, count(*) n FROM {Order._meta.db_table} "
                "GROUP BY customer_id) o "
                "WHERE o.customer_id = c.id"
            )
            # stage changes: every 5th customer one, heavy customers 100
            stage_change = {
                "pipeline": "'lifecycle'",
                "from_value": "'awareness'",
                "to_value": "'trial'",
                "reason": "'bench'",
            }
            step(
                "stage changes",
                insert_select,
                StageChange,
                {
                    **stage_change,
                    "customer_id": f"{c0} + i",
                    "changed_at": "timestamptz '2024-01-01' + i * interval '1 min'",
                },
                f"generate_series(0, {n_customers - 1}, 5) i",
            )
            step(
                "stage changes (heavy customers)",
                insert_select,
                StageChange,
                {
                    **stage_change,
                    "customer_id": f"{c0} + h * {HEAVY_EVERY}",
                    "changed_at": "timestamptz '2024-01-01' + k * interval '1 day'",
                },
                f"generate_series(0, {heavy - 1}) h, generate_series(1, {HEAVY_STAGES}) k",
            )
        cursor.execute("SET session_replication_role = DEFAULT")
    vacuum_started = time.perf_counter()
    connection.close()
    with connection.cursor() as cursor:  # VACUUM cannot run inside a transaction: autocommit, fresh connection
        cursor.execute("VACUUM ANALYZE")
    print(f"  VACUUM ANALYZE: {time.perf_counter() - vacuum_started:.1f} s")
    print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)


def sequence_past(cursor, model, value: int) -> None:
    """Rows were inserted with explicit ids: the next id the app takes comes after them."""
    cursor.execute(f"SELECT setval(pg_get_serial_sequence('{model._meta.db_table}', 'id'), {value})")


def next_id(cursor, model) -> int:
    cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {model._meta.db_table}")
    return cursor.fetchone()[0]


def print_counts() -> None:
    from django.db import connection

    from customers.models import Customer, ExternalContact, FollowRelation, Order, StageChange, TimelineEntry
    from groups.models import GroupMember

    with connection.cursor() as cursor:
        counts = []
        for model in (Customer, TimelineEntry, ExternalContact, FollowRelation, GroupMember, Order, StageChange):
            # the planner's estimate: count(*) on ten million rows takes seconds and says nothing new
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [model._meta.db_table])
            counts.append(f"{cursor.fetchone()[0]:,} {model.__name__}")
    print("rows (estimates): " + ", ".join(counts))


# ---- measuring ------------------------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return f"p50 {at(50):6.2f}  p95 {at(95):6.2f}  p99 {at(99):6.2f}  max {ordered[-1]:7.2f} ms (n={len(ordered)})"


class Timer:
    """Wall time per call, plus this process's CPU time and the database's share (time inside execute)."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu = self.db = 0.0
        self.queries: set[int] = set()
        self._db = self._count = 0

    def database(self, execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self._db += time.perf_counter() - began
            self._count += 1

    def run(self, fn, *args) -> None:
        self._db = self._count = 0
        cpu, began = time.process_time(), time.perf_counter()
        fn(*args)
        self.wall.append((time.perf_counter() - began) * 1000)
        self.cpu += time.process_time() - cpu
        self.db += self._db
        self.queries.add(self._count)

    def report(self, label: str) -> None:
        n = len(self.wall)
        print(
            f"{label:44s} {percentiles(self.wall)}\n{'':44s} per call: {self.cpu / n * 1000:.2f} ms Python CPU, "
            f"{self.db / n * 1000:.2f} ms in the database, queries {sorted(self.queries)}",
            flush=True,
        )


def check(ok: bool, detail) -> None:
    if not ok:
        raise SystemExit(f"wrong answer: {detail}")


def spellings(e164: str, rng: random.Random) -> str:
    """The ways staff type a number: national, with +86, with 0086, with spaces or dashes."""
    national = e164[3:]
    return rng.choice(
        [
            national,
            e164,
            "0086" + national,
            f"{national[:3]} {national[3:7]} {national[7:]}",
            f"+86 {national[:3]}-{national[3:7]}-{national[7:]}",
        ]
    )


def measure(args) -> int:
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from customers.models import Customer
    from customers.selectors import customer_by_phone
    from scrm.core.roles import OPS

    rng = random.Random(args.seed)
    user, _created = User.objects.get_or_create(username=BENCH_USER, defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name=OPS))
    if args.auth == "token":
        client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    else:
        client = Client()
        client.force_login(user)
    bounds = Customer.objects.order_by("id").values_list("id", flat=True)
    first, last = bounds.first(), bounds.last()
    n = last - first + 1
    print(f"load average before measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")

    def sample_ids(count: int) -> list[int]:
        return [first + rng.randrange(n) for _ in range(count)]

    # ---- phone lookup
    wanted = args.lookups + 200
    by_id = dict(
        Customer.objects.filter(pk__in=sample_ids(wanted * 2)).exclude(phone="").values_list("pk", "phone")[:wanted]
    )
    numbers = [(pk, spellings(phone, rng)) for pk, phone in by_id.items()]
    warm, measured = numbers[:200], numbers[200:]

    def selector(pk: int, number: str) -> None:
        found = customer_by_phone(phone=number)
        check(found is not None and found.pk == pk, f"{number}: {found}")

    def api_by_phone(pk: int, number: str) -> None:
        response = client.get("/api/customers/by-phone/", {"phone": number}, secure=True)
        check(response.status_code == 200 and response.json()["id"] == pk, response.content[:300])

    for label, fn in (
        ("phone lookup: customer_by_phone()", selector),
        ("phone lookup: GET /api/customers/by-phone/", api_by_phone),
    ):
        for pk, number in warm:
            fn(pk, number)
        timer = Timer()
        with connection.execute_wrapper(timer.database):
            for pk, number in measured:
                timer.run(fn, pk, number)
        timer.report(label)

    # ---- the 360 view
    heavy_ids = [first + h * HEAVY_EVERY for h in range(n // HEAVY_EVERY)]
    heavy_n = max(1, args.views // 10)
    views = sample_ids(args.views - heavy_n) + rng.sample(heavy_ids, min(heavy_n, len(heavy_ids)))
    rng.shuffle(views)
    warm_views = sample_ids(100) + rng.sample(heavy_ids, min(10, len(heavy_ids)))

    def view(pk: int) -> None:
        response = client.get(f"/api/customers/{pk}/", secure=True)
        check(response.status_code == 200, response.content[:300])

    for pk in warm_views:
        view(pk)
    if args.explain:
        explain(client, heavy_ids[0])
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    everyone, ordinary, heavy = Timer(), Timer(), Timer()
    with connection.execute_wrapper(everyone.database):
        for pk in views:
            if profiler:
                profiler.enable()
            everyone.run(view, pk)
            if profiler:
                profiler.disable()
            (heavy if (pk - first) % HEAVY_EVERY == 0 else ordinary).wall.append(everyone.wall[-1])
    everyone.report("360: GET /api/customers/{id}/")
    print(f"{'  ordinary customers':44s} {percentiles(ordinary.wall)}")
    print(f"{'  heavy customers (1,000 timeline entries)':44s} {percentiles(heavy.wall)}")
    if profiler:
        profiler.dump_stats(args.profile)
        print(f"profile written to {args.profile} (python -m pstats {args.profile})")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def explain(client, customer_id: int) -> None:
    """The plans of the 360 view's queries for one heavy customer, as the view runs them."""
    from django.db import connection

    captured: list[tuple[str, tuple]] = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        client.get(f"/api/customers/{customer_id}/", secure=True)
    with connection.cursor() as cursor:
        for sql, params in captured:
            if not sql.startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = "\n    ".join(row[0] for row in cursor.fetchall())
            print(f"-- {sql[:160]}\n    {plan}")


if __name__ == "__main__":
    sys.exit(main())
