"""Tagging benchmark: segment counts, the first page of a segment's members, and bulk tagging (with its undo) on
1,000,000 customers, 2,000 tags and about 8 tags per customer.

    createdb -h 127.0.0.1 -U postgres scrm_bench_tags
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scrm_bench_tags REDIS_URL=redis://127.0.0.1:6379/15 \\
        .venv/bin/python bench/tagging_benchmark.py --flush --seed-only        # about 4 minutes
    DATABASE_URL=… REDIS_URL=… .venv/bin/python bench/tagging_benchmark.py --skip-seed [--explain]

1. Seeds in SQL (``INSERT … SELECT … FROM generate_series``): employees, 1,000,000 customers (owners, lifecycle
   and opportunity stages, spend skewed towards zero, last contact over two years, every third with a WeCom
   contact and follow relation), 2,000 tags in 60 tag groups (50 of corp tags, 10 of system tags; names are
   Chinese interest and region words with numbers, such as 奶粉12), and about 8 tags per customer drawn with a
   Zipf-like popularity (the most popular tag on about half the customers, the rarest on a few hundred). The
   draws go into a temporary table first, so each customer is inserted with its sorted ``tag_ids`` already and
   the ``CustomerTag`` rows are copied from the same draws; the GIN index and the assignment indexes are built
   after the load, then ``VACUUM ANALYZE``. ``--seed-only`` stops here; ``--skip-seed`` reuses the data.
2. Counts 24 segment expressions of 3 to 5 terms (popular and rare tags, AND/OR/NOT, stage, lifecycle, spend
   and idle days) with ``customers_in_segment(expression).count()``, warm, over ``--rounds`` rounds.
3. Fetches the first page (20, newest first, the list's fields) of each segment's members.
4. Tags a segment of about 100,000 customers end to end through the services (``tag_bulk_job_create``, whose
   task runs in this process: Celery is set to eager) and undoes it the same way; prints seconds and rows/s.

``--explain`` prints ``EXPLAIN (ANALYZE, BUFFERS)`` of a representative count and first page. Not a test: nothing
fails on a speed; it checks only that the bulk job's counts add up. ``--flush`` empties the customers' and
tagging tables: point it at a benchmark database only.
"""

# SQL here is built from model table names and integers only; random only picks the sample.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import django_for_benchmark  # noqa: E402
from customers_benchmark import Timer, insert_select, next_id, sequence_past, step  # noqa: E402

EMPLOYEES, TAG_GROUPS, SYSTEM_GROUPS, TAGS = 200, 60, 10, 2000
BENCH_USER = "bench-ops"
BULK_TAG = "批量测试"
PAGE = 20

GROUP_WORDS = (  # noqa: SIM905 - a list of words reads better as text
    "兴趣 地区 年龄段 宝宝月龄 渠道来源 会员等级 消费能力 购买品类 活动参与 内容偏好 职业 门店 城市 "
    "省份 品牌偏好 价格敏感度 复购周期 沟通偏好 客户阶段 客户来源 直播 社群 优惠券 积分 节日营销 "
    "新品试用 售后 投诉 满意度 推荐人 家庭结构 性别 婚育 学历 收入 车辆 宠物 运动 美妆 母婴 数码 "
    "家居 食品 服饰 旅游 教育 健康 保险 理财 时段偏好 设备 支付方式 配送方式 包装偏好 口味 肤质 尺码 "
    "颜色偏好 季节 风险"
).split()
TAG_WORDS = (  # noqa: SIM905 - a list of words reads better as text
    "奶粉 辅食 纸尿裤 上海 北京 广州 深圳 杭州 成都 武汉 南京 西安 高端 中端 入门 新客 老客 沉睡 "
    "活跃 高价值 潜力 直播间 小程序 公众号 门店扫码 抖音 小红书 天猫 京东 拼多多 有赞 宝妈 宝爸 孕期 "
    "新生儿 幼儿 学生 白领 教师 医生 护肤 彩妆 香水 咖啡 茶饮 零食 水果 生鲜 有机 进口 国货 "
    "优惠敏感 品质优先 晚间活跃 周末活跃 早鸟 积分达人 拼团 秒杀 会员日 生日月 双十一 年货节 试用装 "
    "复购 退货 好评 差评 推荐官 团长 加盟 批发 企业采购 礼品 跑步 瑜伽 露营 猫 狗 自驾 出境游 亲子 "
    "早教 英语 钢琴 体检 养生 减脂 保湿 防晒 敏感肌 油皮 干皮"
).split()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--flush", action="store_true", help="empty the customers' and tagging tables first")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--skip-seed", action="store_true", help="reuse the data a previous run seeded")
    parser.add_argument("--rounds", type=int, default=5, help="of every count and first page, after a warm-up")
    parser.add_argument("--bulk-size", type=int, default=100_000, help="customers in the bulk-tagged segment")
    parser.add_argument("--no-bulk", action="store_true", help="skip the bulk job and its undo")
    parser.add_argument("--bulk-only", action="store_true", help="only the bulk job and its undo")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("DATABASE_URL must point at a PostgreSQL benchmark database", file=sys.stderr)
        return 2

    django_for_benchmark("tags")
    from django.db import connection

    if args.flush:
        flush()
    from customers.models import Customer

    if args.skip_seed:
        if not Customer.objects.exists():
            print("--skip-seed, but the database holds no customers: seed it first", file=sys.stderr)
            return 2
        with connection.cursor() as cursor:  # a migration since the seed may have rebuilt an index
            cursor.execute("ANALYZE")
    else:
        if Customer.objects.exists():
            print("the database already holds customers: --skip-seed to reuse them, or --flush", file=sys.stderr)
            return 2
        seed(args.customers)
    print_counts()
    if args.seed_only:
        return 0
    return measure(args)


# ---- seeding --------------------------------------------------------------------------------------------------


def flush() -> None:
    from django.db import connection

    from customers.models import Customer, Employee, ExternalContact, FollowRelation, TimelineEntry
    from tagging.models import CustomerTag, Tag, TagBulkJob, TagBulkJobChunk, TagGroup, WeComTagPush

    models = [TagBulkJobChunk, TagBulkJob, WeComTagPush, CustomerTag, Tag, TagGroup]
    models += [TimelineEntry, FollowRelation, ExternalContact, Customer, Employee]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(m._meta.db_table for m in models)} RESTART IDENTITY CASCADE")
    print("flushed the customers' and tagging tables")


def seed(n_customers: int) -> None:
    from django.db import connection, transaction

    from customers.models import Customer, Employee, ExternalContact, FollowRelation, Lifecycle, OpportunityStage
    from tagging.models import CustomerTag, Tag, TagGroup, TagKind

    print(f"seeding {n_customers:,} customers, {TAGS:,} tags and about 8 tags per customer …", flush=True)
    started = time.perf_counter()
    stage_ids = list(OpportunityStage.objects.order_by("position", "id").values_list("id", flat=True))
    # lifecycle weighted towards the start of the funnel: 35% awareness … 5% advocacy
    lifecycle = "ARRAY[" + ",".join(f"'{v}'" for v in Lifecycle.values) + "]"
    funnel = "(ARRAY[1,1,1,1,1,1,1,2,2,2,2,2,3,3,3,3,4,4,4,5])"
    sources = "ARRAY['wecom','wecom','wecom','wecom','wecom','rule','rule','manual','manual','import']"
    customers, assignments = Customer._meta.db_table, CustomerTag._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET work_mem = '512MB'")
        # Foreign keys are DEFERRABLE INITIALLY DEFERRED: checked at commit from a queue of one event per row.
        # The seed is consistent by construction, so skip them (a superuser setting, for this session only).
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SELECT setseed(0.42)")  # the same draws on every seed
        rebuild = drop_indexes(cursor, customers, assignments)
        with transaction.atomic():
            e0 = next_id(cursor, Employee)
            step(
                "employees",
                insert_select,
                Employee,
                {"id": f"{e0} + g", "userid": "'bench-emp-' || g", "name": "'员工' || g"},
                f"generate_series(0, {EMPLOYEES - 1}) g",
            )
            sequence_past(cursor, Employee, e0 + EMPLOYEES)
            g0 = next_id(cursor, TagGroup)
            groups = "ARRAY[" + ",".join(f"'{w}'" for w in GROUP_WORDS[:TAG_GROUPS]) + "]"
            step(
                "tag groups",
                insert_select,
                TagGroup,
                {
                    "id": f"{g0} + g",
                    # the last groups are system tags (ours alone), the others WeCom corp tags
                    "kind": f"CASE WHEN g >= {TAG_GROUPS - SYSTEM_GROUPS} THEN '{TagKind.SYSTEM}' "
                    f"ELSE '{TagKind.CORP}' END",
                    "group_id": f"CASE WHEN g >= {TAG_GROUPS - SYSTEM_GROUPS} THEN '' ELSE 'bench-tg-' || g END",
                    "sync_state": f"CASE WHEN g >= {TAG_GROUPS - SYSTEM_GROUPS} THEN 'local' ELSE 'synced' END",
                    "name": f"({groups})[1 + g]",
                    "order": f"{TAG_GROUPS} - g",
                },
                f"generate_series(0, {TAG_GROUPS - 1}) g",
            )
            sequence_past(cursor, TagGroup, g0 + TAG_GROUPS)
            t0 = next_id(cursor, Tag)
            words = "ARRAY[" + ",".join(f"'{w}'" for w in TAG_WORDS) + "]"
            system = f"t % {TAG_GROUPS} >= {TAG_GROUPS - SYSTEM_GROUPS}"
            step(
                "tags",
                insert_select,
                Tag,
                {
                    "id": f"{t0} + t",
                    "kind": f"CASE WHEN {system} THEN '{TagKind.SYSTEM}' ELSE '{TagKind.CORP}' END",
                    "tag_id": f"CASE WHEN {system} THEN '' ELSE 'bench-tag-' || t END",
                    "sync_state": f"CASE WHEN {system} THEN 'local' ELSE 'synced' END",
                    "group_id": f"{g0} + t % {TAG_GROUPS}",
                    # 奶粉1 … 干皮1, 奶粉2 …: unique names, so expressions need no group/ prefix
                    "name": f"({words})[1 + t % {len(TAG_WORDS)}] || (1 + t / {len(TAG_WORDS)})",
                    "order": f"{TAGS} - t",
                },
                f"generate_series(0, {TAGS - 1}) t",
            )
            sequence_past(cursor, Tag, t0 + TAGS)

            # The draws: customer i takes 3 to 14 tags (8.5 on average, a little less after duplicates), each of
            # rank r = floor(exp(U·ln(T+1))) − 1, so P(r) ∝ ln((r+2)/(r+1)) ≈ 1/(r+1): Zipf with s = 1. Ranks map to
            # tags by a stride coprime with T, so popular tags fall in every group.
            began = time.perf_counter()
            cursor.execute(
                "CREATE TEMP TABLE bench_draws AS SELECT DISTINCT i, "
                f"{t0} + ((floor(exp(random() * ln({TAGS + 1})))::int - 1) * 7919) % {TAGS} AS tag "
                f"FROM generate_series(0, {n_customers - 1}) i, "
                f"LATERAL generate_series(1, 3 + (i * 2654435761::bigint) % 12) k"
            )
            print(f"  tag draws: {cursor.rowcount:,} rows in {time.perf_counter() - began:.1f} s", flush=True)
            c0 = next_id(cursor, Customer)
            spend = "CASE WHEN i % 2 = 0 THEN 0 ELSE round(exp(random() * ln(20000))::numeric, 2) END"
            step(
                "customers",
                insert_select,
                Customer,
                {
                    "id": f"{c0} + i",
                    # unique valid mainland mobiles (7919 is coprime with 10⁹); every 20th customer has none yet
                    "phone": "CASE WHEN i % 20 = 19 THEN '' ELSE "
                    "'+86' || (13000000000 + (i::bigint * 7919) % 1000000000)::text END",
                    "name": "'客户' || i",
                    # a few busy sales own more customers than the rest
                    "owner_id": f"{e0} + floor(power(random(), 2) * {EMPLOYEES})::int",
                    "origin": "CASE WHEN i % 3 = 0 THEN 'wecom' ELSE 'import' END",
                    "lifecycle_stage": f"({lifecycle})[{funnel}[1 + (i * 31) % 20]]",
                    "opportunity_stage_id": (
                        f"CASE WHEN i % 5 < 2 THEN (ARRAY{stage_ids})[1 + (i / 5) % {len(stage_ids)}] END"
                        if stage_ids
                        else "NULL"
                    ),
                    "total_spend": spend,
                    "order_count": "CASE WHEN i % 2 = 0 THEN 0 ELSE 1 + (i / 2) % 7 END",
                    # most contacted recently, a long tail back two years; one in twenty never
                    "last_contact_at": "CASE WHEN i % 20 = 7 THEN NULL ELSE "
                    "now() - power(random(), 2) * interval '730 days' END",
                    "marketing_opt_out": "i % 50 = 0",
                    "tag_ids": "coalesce(d.tags, '{}')",
                },
                f"generate_series(0, {n_customers - 1}) i LEFT JOIN "
                "(SELECT i AS di, array_agg(tag ORDER BY tag) AS tags FROM bench_draws GROUP BY i) d ON d.di = i",
            )
            sequence_past(cursor, Customer, c0 + n_customers)
            step(
                "customer tags",
                insert_select,
                CustomerTag,
                {
                    "customer_id": f"{c0} + i",
                    "tag_id": "tag",
                    "source": f"({sources})[1 + (i + tag) % 10]",
                    "created_at": "now() - random() * interval '700 days'",
                },
                "bench_draws",
            )
            cursor.execute("DROP TABLE bench_draws")
            # every third customer came from WeCom: a contact and a follow relation (bulk corp tags queue mark_tag)
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
            n_contacts = (n_customers - 1) // 3 + 1
            sequence_past(cursor, ExternalContact, x0 + n_contacts)
            step(
                "follow relations",
                insert_select,
                FollowRelation,
                {
                    "employee_id": f"{e0} + (x * 37) % {EMPLOYEES}",
                    "contact_id": f"{x0} + x",
                    "state": "'channel-' || x % 30",
                    "add_way": "1",
                    "added_at": "now() - (x % 700) * interval '1 day'",
                },
                f"generate_series(0, {n_contacts - 1}) x",
            )
        began = time.perf_counter()
        for sql in rebuild:
            cursor.execute(sql)
        print(f"  indexes: {time.perf_counter() - began:.1f} s", flush=True)
        cursor.execute("SET session_replication_role = DEFAULT")
    began = time.perf_counter()
    connection.close()
    with connection.cursor() as cursor:  # VACUUM cannot run inside a transaction: autocommit, fresh connection
        cursor.execute("VACUUM ANALYZE")
    print(f"  VACUUM ANALYZE: {time.perf_counter() - began:.1f} s")
    print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)


def drop_indexes(cursor, customers: str, assignments: str) -> list[str]:
    """Drop the GIN index on tag_ids and the assignment table's indexes and unique key (one sort each after the
    load beats millions of index inserts); returns the statements that build them again, as the migrations
    defined them."""
    cursor.execute(
        "SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
        "WHERE t.relname = %s AND c.contype = 'u'",
        [assignments],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE (i.tablename = %s AND i.indexdef LIKE '%%gin%%') "
        "OR (i.tablename = %s AND i.indexname NOT IN (SELECT conname FROM pg_constraint) "
        "AND i.indexname NOT LIKE '%%_pkey')",
        [customers, assignments],
    )
    indexes = cursor.fetchall()
    for name, _definition in constraints:
        cursor.execute(f'ALTER TABLE {assignments} DROP CONSTRAINT "{name}"')
    for name, _definition in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    return [f'ALTER TABLE {assignments} ADD CONSTRAINT "{name}" {definition}' for name, definition in constraints] + [
        definition for _name, definition in indexes
    ]


def print_counts() -> None:
    from django.db import connection

    from customers.models import Customer
    from tagging.models import CustomerTag, Tag

    with connection.cursor() as cursor:
        counts = []
        for model in (Customer, CustomerTag, Tag):
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [model._meta.db_table])
            counts.append(f"{cursor.fetchone()[0]:,} {model.__name__}")
    print("rows (estimates): " + ", ".join(counts))


# ---- measuring ------------------------------------------------------------------------------------------------


def expressions(name) -> list[str]:
    """24 segments of 3 to 5 terms as operations staff write them; ``name(r)`` is the tag of popularity rank r
    (0: on about half the customers; 100: about 9%; 1999: a few hundred)."""
    t = name
    return [
        f"{t(0)} AND {t(3)} AND NOT {t(1)}",
        f"({t(2)} OR {t(5)}) AND stage:谈判 AND spend>=500",
        f"{t(1500)} OR {t(1700)} OR {t(1900)}",
        f"{t(0)} AND idle_days>=30 AND lifecycle>=trial",
        f"({t(10)} OR {t(20)} OR {t(30)}) AND NOT {t(0)} AND spend>=100",
        f"{t(50)} AND {t(60)} AND NOT {t(70)}",
        f"{t(0)} AND {t(1)} AND {t(2)} AND {t(3)}",
        f"{t(0)} OR {t(1)} OR {t(2)}",
        f"NOT {t(0)} AND NOT {t(1)} AND spend>=1000",
        f"{t(1000)} AND stage:方案报价 AND idle_days<7",
        f"({t(4)} AND {t(8)}) OR ({t(300)} AND {t(400)})",
        f"{t(0)} AND lifecycle:conversion AND orders>=2",
        f"{t(100)} OR {t(200)} OR {t(1200)} OR {t(1800)}",
        f"{t(6)} AND NOT {t(7)} AND NOT {t(9)} AND idle_days>=90",
        f"{t(15)} AND spend>=500 AND spend<2000",
        f"({t(0)} OR {t(12)}) AND {t(1999)}",
        f"{t(3)} AND opt_out:no AND phone:yes",
        f"owner:bench-emp-3 AND ({t(0)} OR {t(1)})",
        f"{t(25)} AND {t(26)} AND {t(27)}",
        f"NOT ({t(0)} OR {t(1)}) AND lifecycle>=repurchase",
        f"{t(11)} AND channel:channel-7 AND NOT {t(2)}",
        f"{t(500)} OR stage:谈判 OR {t(600)}",
        f"spend>=5000 AND {t(0)} AND NOT {t(5)}",
        f"{t(1)} AND idle_days<30 AND stage:成交",
    ]


def measure(args) -> int:
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.db.models import Count
    from django.test import Client

    from customers import serializers as customer_serializers
    from customers.api import render
    from scrm.core.roles import OPS
    from tagging.models import CustomerTag, Tag
    from tagging.segments import customers_in_segment

    user, _created = User.objects.get_or_create(username=BENCH_USER, defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name=OPS))
    client = Client()
    client.force_login(user)
    ranked = list(
        CustomerTag.objects.values("tag_id").annotate(n=Count("id")).order_by("-n", "tag_id").values_list("tag_id", "n")
    )
    names = dict(Tag.objects.filter(pk__in=[pk for pk, _n in ranked]).values_list("pk", "name"))

    def name(rank: int) -> str:
        return names[ranked[min(rank, len(ranked) - 1)][0]]

    print(
        f"tags by popularity: rank 0 on {ranked[0][1]:,} customers, rank 100 on {ranked[100][1]:,}, "
        f"rank {len(ranked) - 1} on {ranked[-1][1]:,}"
    )
    print(f"load average before measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    segments = expressions(name)
    if args.bulk_only:
        bulk(args, user, ranked, name)
        return 0

    # ---- counts
    counts = {expression: customers_in_segment(expression).count() for expression in segments}  # warm-up
    timer, per = Timer(), {expression: [] for expression in segments}
    with connection.execute_wrapper(timer.database):
        for _round in range(args.rounds):
            for expression in segments:
                timer.run(lambda e=expression: customers_in_segment(e).count())
                per[expression].append(timer.wall[-1])
    print()
    for expression in segments:
        print(f"  {sorted(per[expression])[len(per[expression]) // 2]:7.1f} ms  {counts[expression]:>9,}  {expression}")
    timer.report("segment count (compile + COUNT)")

    # ---- the first page of members, newest first, with the list's fields
    def first_page(expression: str) -> None:
        page = list(
            customers_in_segment(expression).select_related("owner", "opportunity_stage", "tier").order_by("-id")[:PAGE]
        )
        render(customer_serializers.CustomerSerializer, page, many=True)

    def api_page(expression: str) -> None:
        response = client.get("/api/customers/", {"segment": expression}, secure=True)
        if response.status_code != 200:
            raise SystemExit(
                f"GET /api/customers/?segment={expression}: {response.status_code} {response.content[:300]}"
            )

    for label, fn in (
        ("first page: selector + serializer", first_page),
        ("first page: GET /api/customers/?segment=", api_page),
    ):
        for expression in segments:
            fn(expression)
        timer, per = Timer(), {expression: [] for expression in segments}
        with connection.execute_wrapper(timer.database):
            for _round in range(args.rounds):
                for expression in segments:
                    timer.run(fn, expression)
                    per[expression].append(timer.wall[-1])
        slowest = sorted(segments, key=lambda e: -sorted(per[e])[len(per[e]) // 2])[:3]
        for expression in slowest:
            print(f"  slowest: {sorted(per[expression])[len(per[expression]) // 2]:7.1f} ms  {expression}")
        timer.report(label)

    if args.explain:
        explain(segments, first_page)
    if not args.no_bulk:
        bulk(args, user, ranked, name)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def explain(segments: list[str], first_page) -> None:
    """The plans of the statements a count and a first page send (as captured, name lookups left out)."""
    from django.db import connection

    from customers.models import Customer
    from tagging.segments import customers_in_segment

    table = f'FROM "{Customer._meta.db_table}"'
    for expression in (segments[1], segments[7], segments[20]):
        for label, run in (
            ("count", lambda e=expression: customers_in_segment(e).count()),
            ("first page", lambda e=expression: first_page(e)),
        ):
            captured: list[tuple[str, tuple]] = []

            def capture(execute, sql, params, many, context, captured=captured):
                captured.append((sql, params))
                return execute(sql, params, many, context)

            with connection.execute_wrapper(capture):
                run()
            with connection.cursor() as cursor:
                for sql, params in captured:
                    if not sql.startswith("SELECT") or table not in sql:
                        continue
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                    plan = "\n    ".join(row[0] for row in cursor.fetchall())
                    print(f"\n-- {label}: {expression}\n    {plan}")


def bulk(args, user, ranked, name) -> None:
    """Tag the segment nearest ``--bulk-size`` customers through the services, the task run in this process, and
    undo it the same way. Besides the wall time, the CPU it took: this process (every thread) and the PostgreSQL
    backends serving this database (sampled from /proc), which says what the work costs whatever else the
    machine is doing."""
    from django.db import connection

    from scrm.celery import app
    from tagging.models import CustomerTag, Tag, TagBulkJob, TagGroup, TagKind, WeComTagPush
    from tagging.segments import customers_in_segment
    from tagging.services.bulk import tag_bulk_job_create, tag_bulk_job_undo

    app.conf.task_always_eager = True  # .delay() after commit runs the task here, so the timing is end to end
    app.conf.task_eager_propagates = True
    rank = min(range(len(ranked)), key=lambda r: abs(ranked[r][1] - args.bulk_size))
    expression = f"{name(rank)} AND NOT {name(len(ranked) - 1)} AND NOT {name(len(ranked) - 2)}"
    group = TagGroup.objects.filter(kind=TagKind.CORP).order_by("id").first()
    n = Tag.objects.filter(name__startswith=BULK_TAG).count() + 1
    tag = Tag.objects.create(name=f"{BULK_TAG}{n}", tag_id=f"bench-bulk-{n}", group=group, kind=TagKind.CORP)
    expected = customers_in_segment(expression).count()
    pushes = WeComTagPush.objects.count()
    print(f"\nbulk: tag “{tag.name}” on “{expression}” ({expected:,} customers)", flush=True)

    with Cpu(connection.settings_dict["NAME"]) as cpu:
        job = tag_bulk_job_create(tag=tag, action=TagBulkJob.Action.ADD, expression=expression, actor=user)
    job.refresh_from_db()
    print(
        f"  tagged:  {cpu.wall:6.1f} s = {job.changed / cpu.wall:,.0f} customers/s  (status {job.status}, "
        f"{job.processed:,}/{job.total:,} processed, {job.changed:,} changed, {job.chunks.count()} chunks, "
        f"{WeComTagPush.objects.count() - pushes:,} mark_tag pushes queued)\n{cpu.report(job.changed)}",
        flush=True,
    )
    if job.status != TagBulkJob.Status.DONE or job.changed != expected:
        raise SystemExit(f"wrong answer: {job.status} {job.error} changed {job.changed} of {expected}")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {CustomerTag._meta.db_table} WHERE tag_id = %s", [tag.pk])
        carried = cursor.fetchone()[0]
    if carried != expected or customers_in_segment(tag.name).count() != expected:
        raise SystemExit(f"wrong answer: {carried} rows, arrays disagree")

    with Cpu(connection.settings_dict["NAME"]) as cpu:
        tag_bulk_job_undo(job=job, actor=user)
    job.refresh_from_db()
    left = CustomerTag.objects.filter(tag=tag).count()
    print(
        f"  undone:  {cpu.wall:6.1f} s = {job.changed / cpu.wall:,.0f} customers/s  (status {job.status}, "
        f"{left} left)\n{cpu.report(job.changed)}"
    )
    if job.status != TagBulkJob.Status.UNDONE or left or customers_in_segment(tag.name).count():
        raise SystemExit(f"wrong answer: {job.status} {job.error}, {left} assignments left")


class Cpu:
    """Wall time and CPU seconds of this process and of the PostgreSQL backends connected to ``database`` while
    the block runs (a backend's CPU is sampled every 0.2 s and kept when it exits)."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.backends: dict[int, float] = {}
        self.stop = threading.Event()

    def _sample(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if f" {self.database} ".encode() not in f.read().replace(b"\0", b" "):
                        continue
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            self.backends[int(pid)] = (int(fields[11]) + int(fields[12])) / tick

    def _watch(self) -> None:
        while not self.stop.wait(0.2):
            self._sample()

    def __enter__(self) -> Cpu:
        self._sample()
        self.before = dict(self.backends)
        self.cpu, self.began = time.process_time(), time.perf_counter()
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.began
        self.python = time.process_time() - self.cpu
        self.stop.set()
        self.watcher.join()
        self._sample()
        self.postgres = sum(cpu - self.before.get(pid, 0.0) for pid, cpu in self.backends.items())

    def report(self, rows: int) -> str:
        per = 1e6 / max(rows, 1)
        return (
            f"           CPU: this process {self.python:.1f} s ({self.python * per:.0f} µs a customer), PostgreSQL "
            f"{self.postgres:.1f} s ({self.postgres * per:.0f} µs); load average now "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )


if __name__ == "__main__":
    sys.exit(main())
