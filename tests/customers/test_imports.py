"""Follow-up imports (customers.services.imports) on real CSV and XLSX files: columns by header in Chinese or
English, every rejection reason with its row number, idempotent re-imports, "last contact" forward only,
whole-file failures that write nothing, chunked progress and resuming an interrupted job."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from customers.imports.pipeline import Writers
from customers.models import Customer, Employee, ImportJob, TimelineEntry
from customers.services.identity import customer_create
from customers.services.imports import followups_import
from scrm.core.errors import Conflict
from tests.customers.import_files import (  # noqa: F401 - media_fixture
    CALLS_HEADER,
    counts,
    media_fixture,
    read_report,
    run_import,
    write_csv,
    write_xlsx,
)
from tests.helpers import is_postgres

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media", "english")]

E164 = "+8613800138000"
NEW = "+8613900139000"


@pytest.fixture
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def zhangsan():
    return Employee.objects.create(userid="ZhangSan", name="张三")


@pytest.fixture
def customer():
    return customer_create(phone="13800138000", origin=Customer.Origin.WECOM)


def entries():
    return list(
        TimelineEntry.objects.order_by("occurred_at").values_list(
            "customer__phone", "kind", "channel", "occurred_at", "employee__userid", "summary", "content", "data"
        )
    )


def test_calls_csv_with_chinese_headers(tmp_path, zhangsan, customer):
    path = write_csv(
        tmp_path / "通话记录.csv",
        [
            CALLS_HEADER,
            ["+86 138-0013-8000", "2024-03-01 09:05:00", "呼入", "35", "zhangsan", "问价格\n再联系"],
            ["13900139000", "2024/3/2 9:05", "outbound", "1:05", "", ""],
            ["8613900139000", "2024年3月3日 10:00", "呼出", "0秒", "", "未接"],
        ],
    )

    job = run_import(path)

    assert job.status == ImportJob.Status.DONE
    assert counts(job) == {"total": 3, "imported": 3, "duplicates": 0, "rejected": 0, "new_customers": 1}
    assert job.message == "" and not job.error_report and job.error_sample == []
    assert entries() == [
        (E164, "call", "phone", datetime(2024, 3, 1, 1, 5, tzinfo=UTC), "ZhangSan", "问价格", "问价格\n再联系",
         {"direction": "in", "duration": 35, "import": job.pk}),
        (NEW, "call", "phone", datetime(2024, 3, 2, 1, 5, tzinfo=UTC), None, "Outbound call 1:05", "",
         {"direction": "out", "duration": 65, "import": job.pk}),
        (NEW, "call", "phone", datetime(2024, 3, 3, 2, 0, tzinfo=UTC), None, "未接", "未接",
         {"direction": "out", "duration": 0, "import": job.pk}),
    ]  # fmt: skip
    new = Customer.objects.get(phone=NEW)
    assert new.origin == Customer.Origin.IMPORT
    assert new.last_contact_at == datetime(2024, 3, 3, 2, 0, tzinfo=UTC)
    customer.refresh_from_db()
    assert customer.origin == Customer.Origin.WECOM
    assert customer.last_contact_at == datetime(2024, 3, 1, 1, 5, tzinfo=UTC)
    assert Customer.objects.count() == 2


def test_sms_csv_with_english_headers_and_ids(tmp_path, customer):
    path = write_csv(
        tmp_path / "sms.csv",
        [
            ["Phone", "Time", "Direction", "Content", "SMS ID", "Campaign"],
            ["13800138000", "2024-03-01T09:05:00+08:00", "received", "您好，预约明天", "S-1", "x"],
            ["13800138000", "2024-03-01 09:06", "SENT", "好的", "", "x"],
            ["13800138000", "2024-03-01 09:07", "sent", "  ", "", "x"],
        ],
    )

    job = run_import(path, ImportJob.Kind.SMS)

    assert counts(job) == {"total": 3, "imported": 2, "duplicates": 0, "rejected": 1, "new_customers": 0}
    assert job.error_sample == [{"row": 4, "reason": "Content: The content is empty."}]
    stored = TimelineEntry.objects.order_by("occurred_at")
    assert [(e.kind, e.channel, e.summary, e.content, e.data) for e in stored] == [
        ("sms", "sms", "您好，预约明天", "您好，预约明天", {"direction": "in", "sms_id": "S-1", "import": job.pk}),
        ("sms", "sms", "好的", "好的", {"direction": "out", "import": job.pk}),
    ]
    assert stored[0].source_key == "sms:id:S-1"
    assert stored[1].source_key.startswith(f"sms:{int(datetime(2024, 3, 1, 1, 6, tzinfo=UTC).timestamp())}:")


def test_utf8_bom_and_gb18030_files_read_alike(tmp_path):
    rows = [CALLS_HEADER, ["13800138000", "2024-03-01 09:05", "呼入", "35", "", "问价格"]]
    bom = write_csv(tmp_path / "excel-utf8.csv", rows, encoding="utf-8-sig")
    gbk = write_csv(tmp_path / "excel-chinese.csv", rows, encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        gbk.read_bytes().decode("utf-8")

    first, second = run_import(bom), run_import(gbk)

    assert counts(first) == {"total": 1, "imported": 1, "duplicates": 0, "rejected": 0, "new_customers": 1}
    assert counts(second) == {"total": 1, "imported": 0, "duplicates": 1, "rejected": 0, "new_customers": 0}
    assert TimelineEntry.objects.get().summary == "问价格"


def test_xlsx_cells_of_every_type(tmp_path, zhangsan):
    path = write_xlsx(
        tmp_path / "calls.xlsx",
        [
            ["电话", "time", "direction", "duration", "userid"],
            [13800138000, datetime(2024, 3, 1, 9, 5), "in", 35, "ZHANGSAN"],
            [None, None, None, None, None],
            ["13900139000", datetime(2024, 3, 2, 9, 5), "呼出", 3.5, None],
            ["13900139000", 45352.5, "out", 60.0],  # a date that lost its format: Excel's day number
        ],
    )

    job = run_import(path)

    assert counts(job) == {"total": 3, "imported": 2, "duplicates": 0, "rejected": 1, "new_customers": 2}
    assert job.error_sample == [{"row": 4, "reason": "duration: The duration 3.5 is not a whole number of seconds."}]
    assert [(e[0], e[3], e[4]) for e in entries()] == [
        (E164, datetime(2024, 3, 1, 1, 5, tzinfo=UTC), "ZhangSan"),
        (NEW, datetime(2024, 3, 1, 4, 0, tzinfo=UTC), None),
    ]
    assert read_report(job)[1][:3] == ["4", "duration", "The duration 3.5 is not a whole number of seconds."]


def test_every_rejection_reason_with_its_row_number(tmp_path, zhangsan):
    header = ["手机号", "通话时间", "方向", "通话时长（秒）", "员工", "通话ID", "客户姓名"]
    path = write_csv(
        tmp_path / "calls.csv",
        [
            header,
            ["13800138000", "2024-03-01 09:05:00", "呼入", "35", "zhangsan", "C-1", "王"],  # 2: imported
            ["12345", "2024-03-01 09:05:00", "呼入", "35", "", "", ""],
            ["", "2024-03-01 09:05:00", "呼入", "35", "", "", ""],
            ["13800138000", "2024-13-01 09:05", "呼入", "35", "", "", ""],  # 5
            ["", "", "", "", "", "", ""],  # 6: blank, skipped but numbered
            ["13800138000", "2024-03-01", "呼入", "35", "", "", ""],
            ["13800138000", "2099-01-01 00:00", "呼入", "35", "", "", ""],
            ["13800138000", "2024-03-01 09:05", "侧向", "35", "", "", ""],
            ["13800138000", "2024-03-01 09:05", "呼入", "-3", "", "", ""],  # 10
            ["13800138000", "2024-03-01 09:05", "呼入", "3.5", "", "", ""],
            ["13800138000", "2024-03-01 09:05", "呼入", "abc", "", "", ""],
            ["13800138000", "2024-03-01 09:05", "呼入", "35", "nobody", "", ""],
            ["13800138000", "2024-03-01 09:05", "呼入", "35", "", "x" * 89, ""],
            ["13800138000", "2024-03-01 09:05", "呼入", "35", "", "", "王", "多", "列"],  # 15
            ["13900139000", "2024-03-01 10:00", "out", "0", "", "", ""],  # 16: imported
        ],
    )

    job = run_import(path)

    assert counts(job) == {"total": 14, "imported": 2, "duplicates": 0, "rejected": 12, "new_customers": 2}
    assert job.error_sample == [
        {"row": 3, "reason": "手机号: “12345” is not a valid phone number for its region."},
        {"row": 4, "reason": "手机号: The phone number is empty."},
        {"row": 5, "reason": "通话时间: “2024-13-01 09:05” is not a date and time "
                             "(expected YYYY-MM-DD HH:MM[:SS] or YYYY/MM/DD HH:MM[:SS])."},
        {"row": 7, "reason": "通话时间: “2024-03-01” is not a date and time "
                             "(expected YYYY-MM-DD HH:MM[:SS] or YYYY/MM/DD HH:MM[:SS])."},
        {"row": 8, "reason": "通话时间: “2099-01-01 00:00” is in the future."},
        {"row": 9, "reason": "方向: “侧向” is not a direction (in, out, 呼入, 呼出, 接收, 发送)."},
        {"row": 10, "reason": "通话时长（秒）: The duration -3 is negative."},
        {"row": 11, "reason": "通话时长（秒）: The duration 3.5 is not a whole number of seconds."},
        {"row": 12, "reason": "通话时长（秒）: “abc” is not a number of seconds."},
        {"row": 13, "reason": "员工: No employee has the WeCom userid “nobody”."},
        {"row": 14, "reason": "通话ID: The id is longer than 88 characters."},
        {"row": 15, "reason": "row: The row has 9 values but row 1 names only 7 columns (an unquoted comma?)."},
    ]  # fmt: skip
    report = read_report(job)
    assert report[0] == ["row", "column", "reason", *header]
    assert [line[:2] for line in report[1:]] == [
        ["3", "手机号"], ["4", "手机号"], ["5", "通话时间"], ["7", "通话时间"], ["8", "通话时间"], ["9", "方向"],
        ["10", "通话时长（秒）"], ["11", "通话时长（秒）"], ["12", "通话时长（秒）"], ["13", "员工"], ["14", "通话ID"],
        ["15", "row"],
    ]  # fmt: skip
    assert report[1][3:] == ["12345", "2024-03-01 09:05:00", "呼入", "35", "", "", ""]
    assert report[-1][3:] == ["13800138000", "2024-03-01 09:05", "呼入", "35", "", "", "王", "多", "列"]
    assert job.error_report.name == f"imports/errors/job-{job.pk}.csv"
    assert TimelineEntry.objects.get(customer__phone=E164).source_key == "call:id:C-1"


def test_reimporting_the_same_file_changes_nothing(tmp_path, customer):
    path = write_csv(
        tmp_path / "calls.csv",
        [
            CALLS_HEADER,
            ["13800138000", "2024-03-01 09:05", "呼入", "35", "", ""],
            ["13900139000", "2024-03-02 09:05", "呼出", "60", "", ""],
            ["13900139000", "2024-03-02 09:05", "呼出", "60", "", ""],  # the same call twice in the file
            ["bad", "2024-03-02 09:05", "呼出", "60", "", ""],
        ],
    )
    first = run_import(path)
    before = (
        list(TimelineEntry.objects.values_list("id", "source_key", "customer_id")),
        list(Customer.objects.order_by("id").values_list("id", "phone", "last_contact_at", "updated_at")),
    )

    again = run_import(path)

    assert counts(first) == {"total": 4, "imported": 2, "duplicates": 1, "rejected": 1, "new_customers": 1}
    assert counts(again) == {"total": 4, "imported": 0, "duplicates": 3, "rejected": 1, "new_customers": 0}
    after = (
        list(TimelineEntry.objects.values_list("id", "source_key", "customer_id")),
        list(Customer.objects.order_by("id").values_list("id", "phone", "last_contact_at", "updated_at")),
    )
    assert after == before


def test_last_contact_moves_forward_only(tmp_path, customer):
    customer.last_contact_at = datetime(2024, 3, 2, tzinfo=UTC)
    customer.save(update_fields=["last_contact_at"])
    older = write_csv(tmp_path / "older.csv", [CALLS_HEADER, ["13800138000", "2024-03-01 09:05", "in", "1", "", ""]])
    newer = write_csv(tmp_path / "newer.csv", [CALLS_HEADER, ["13800138000", "2024-03-03 09:05", "in", "1", "", ""]])

    run_import(older)
    customer.refresh_from_db()
    assert customer.last_contact_at == datetime(2024, 3, 2, tzinfo=UTC)

    run_import(newer)
    customer.refresh_from_db()
    assert customer.last_contact_at == datetime(2024, 3, 3, 1, 5, tzinfo=UTC)
    assert TimelineEntry.objects.count() == 2


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [["手机号", "通话时间", "通话时长"], ["13800138000", "2024-03-01 09:05", "35"]],
            "Row 1 lacks required columns: direction (a header such as “direction”, “type”, “方向”, “呼叫方向”).",
        ),
        (
            [["通话时间", "方向", "备注"]],
            "Row 1 lacks required columns: phone (a header such as “phone”, “mobile”, “phonenumber”, “手机号”); "
            "duration (a header such as “duration”, “seconds”, “durationseconds”, “talktime”).",
        ),
        (
            [["手机号", "电话", "时间", "方向", "时长"], ["13800138000", "", "2024-03-01 09:05", "in", "1"]],
            "Columns “手机号”, “电话” are all the phone column: keep one.",
        ),
        ([], "The file is empty: row 1 must name the columns."),
    ],
)
def test_a_file_that_cannot_be_imported_fails_the_job_and_writes_nothing(tmp_path, customer, rows, message):
    job = run_import(write_csv(tmp_path / "calls.csv", rows))

    assert job.status == ImportJob.Status.FAILED
    assert job.message == message
    assert counts(job) == {"total": 0, "imported": 0, "duplicates": 0, "rejected": 0, "new_customers": 0}
    assert not job.error_report
    assert TimelineEntry.objects.count() == 0
    assert Customer.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("calls.pdf", b"%PDF-1.4", "“calls.pdf” is neither a CSV nor an XLSX file (.csv, .xlsx)."),
        ("calls.csv", "手机号,时间".encode() + b"\xff\xfe\xff\n", "The file's text is neither UTF-8 nor GB18030"),
        ("calls.xlsx", b"not a zip", "“calls.xlsx” cannot be read as an XLSX workbook"),
    ],
)
def test_unreadable_files_fail_the_job(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)

    job = run_import(path)

    assert job.status == ImportJob.Status.FAILED
    assert job.message.startswith(message)
    assert TimelineEntry.objects.count() == 0


def test_a_line_csv_cannot_read_fails_the_job_with_its_number(tmp_path):
    rows = [CALLS_HEADER, ["13800138000", "2024-03-01 09:05", "in", "1", "", "x" * 200_000]]

    job = run_import(write_csv(tmp_path / "calls.csv", rows))

    assert job.status == ImportJob.Status.FAILED
    assert job.message == "Line 2 cannot be read as CSV: field larger than field limit (131072)."
    assert TimelineEntry.objects.count() == 0


def test_chunks_commit_and_report_progress(tmp_path):
    rows = [CALLS_HEADER] + [[f"1380013800{i}", f"2024-03-0{i + 1} 09:00", "in", "5", "", ""] for i in range(5)]
    seen = []

    job = run_import(write_csv(tmp_path / "calls.csv", rows), chunk_size=2, progress=lambda *args: seen.append(args))

    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert counts(job) == {"total": 5, "imported": 5, "duplicates": 0, "rejected": 0, "new_customers": 5}


def test_queries_do_not_grow_with_the_rows(tmp_path, zhangsan):
    def queries_for(rows: int) -> int:
        data = [CALLS_HEADER] + [
            [f"139{rows:04d}{i:04d}", f"2024-03-01 09:{i % 60:02d}", "in", str(i), "zhangsan", ""] for i in range(rows)
        ]
        with CaptureQueriesContext(connection) as captured:
            job = run_import(write_csv(tmp_path / f"calls-{rows}.csv", data))
        assert job.imported_rows == rows
        return len(captured)

    if not is_postgres():
        pytest.skip("the set-based path is PostgreSQL's; SQLite's ORM path batches by 500")
    assert queries_for(3) == queries_for(400)


def test_an_interrupted_job_runs_again_from_the_start(tmp_path):
    rows = [CALLS_HEADER, ["13800138000", "2024-03-01 09:05", "in", "1", "", ""], ["bad", "", "", "", "", ""]]
    rows += [[f"1390013900{i}", "2024-03-02 09:05", "out", str(i), "", ""] for i in range(4)]
    path = write_csv(tmp_path / "calls.csv", rows)
    job = ImportJob.objects.create(kind=ImportJob.Kind.CALLS, file_name=path.name)

    class WorkerLost(Exception):
        pass

    def crash(done, total):
        raise WorkerLost

    with pytest.raises(WorkerLost):
        followups_import(job=job, path=path, chunk_size=2, progress=crash)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert counts(job) == {"total": 2, "imported": 1, "duplicates": 0, "rejected": 1, "new_customers": 1}
    assert Customer.objects.get(phone=E164).last_contact_at is None  # applied at the end, which it never reached

    job = followups_import(job=job, path=path, chunk_size=2)

    assert job.status == ImportJob.Status.DONE
    assert counts(job) == {"total": 6, "imported": 4, "duplicates": 1, "rejected": 1, "new_customers": 4}
    assert [line[0] for line in read_report(job)] == ["row", "3"]
    assert job.error_sample == [{"row": 3, "reason": "手机号: “bad” is not a phone number."}]
    assert TimelineEntry.objects.count() == 5
    assert Customer.objects.get(phone=E164).last_contact_at == datetime(2024, 3, 1, 1, 5, tzinfo=UTC)
    assert followups_import(job=job, path=path).imported_rows == 4  # a job done is not run again


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_writers_store_chunks_at_once(tmp_path):
    rows = [CALLS_HEADER] + [
        [f"139{i % 7:04d}{i:04d}", f"2024-03-01 {i // 60 % 24:02d}:{i % 60:02d}", "in", str(i), "", ""]
        for i in range(200)
    ]
    rows[50][0] = "bad"
    path = write_csv(tmp_path / "calls.csv", rows + rows[1:11])  # the first ten again, in another chunk
    seen = []

    job = run_import(path, chunk_size=15, writers=2, progress=lambda done, total: seen.append(done))

    assert counts(job) == {"total": 210, "imported": 199, "duplicates": 10, "rejected": 1, "new_customers": 199}
    assert sorted(seen) == seen and seen[-1] == 210 and len(seen) == 14
    assert job.error_sample == [{"row": 51, "reason": "手机号: “bad” is not a phone number."}]
    assert TimelineEntry.objects.count() == 199
    for customer in Customer.objects.all():
        assert customer.last_contact_at == customer.timeline.get().occurred_at
    again = run_import(path, chunk_size=15, writers=2)
    assert counts(again) == {"total": 210, "imported": 0, "duplicates": 209, "rejected": 1, "new_customers": 0}


@pytest.mark.postgres
def test_one_run_per_job_at_a_time(tmp_path):
    import psycopg2

    path = write_csv(tmp_path / "calls.csv", [CALLS_HEADER, ["13800138000", "2024-03-01 09:05", "in", "1", "", ""]])
    job = ImportJob.objects.create(kind=ImportJob.Kind.CALLS, file_name=path.name)
    db = connection.settings_dict
    other = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"] or 5432
    )
    try:
        with other.cursor() as cursor:  # another worker running this job
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [0x1A0F, job.pk])
        with pytest.raises(Conflict):
            followups_import(job=job, path=path)
    finally:
        other.close()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PENDING
    assert TimelineEntry.objects.count() == 0


@pytest.mark.parametrize("count", [0, 2])
def test_writers_hand_back_results_and_the_first_failure(count):
    def store(item: int) -> int:
        if item == 7:
            raise ValueError("chunk 7 failed")
        return item * 10

    with Writers(store, count) as pool:
        results = [result for item in range(5) for result in pool.put(item)] + pool.done()
    assert sorted(results) == [(0, 0), (1, 10), (2, 20), (3, 30), (4, 40)]

    with pytest.raises(ValueError, match="chunk 7 failed"), Writers(store, count) as pool:
        for item in range(20):
            pool.put(item)
        pool.done()
    assert all(not thread.is_alive() for thread in pool.threads)
