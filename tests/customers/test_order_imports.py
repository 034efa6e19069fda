"""Orders imported from a shop's CSV/XLSX export: matched by phone, idempotent by order id, rows rejected with
row number, column and reason, and the command's summary."""

from decimal import Decimal
from io import StringIO

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from customers.imports.readers import ImportFileError
from customers.models import Customer, Lifecycle, Order, TimelineEntry
from customers.services import customer_create
from customers.services.order_imports import orders_import

pytestmark = pytest.mark.django_db

GOOD = [
    ["手机号", "订单号", "实付金额", "下单时间", "店铺"],
    ["138 1234 5678", "TB-1", "320.00", "2026-03-01 10:00:00", "天猫旗舰店"],
    ["13812345678", "TB-2", "¥1,200.50", "2026/03/05 18:30", "天猫旗舰店"],
    ["13900001111", "TB-3", "99", "2026-03-06 09:00:00", ""],
]


def write_csv(tmp_path, rows, name="orders.csv"):
    path = tmp_path / name
    path.write_text("\n".join(",".join(f'"{cell}"' for cell in row) for row in rows) + "\n", encoding="utf-8")
    return path


def test_orders_land_on_the_customers_by_phone_and_new_numbers_create_customers(tmp_path):
    existing = customer_create(phone="13812345678", name="王芳")

    result = orders_import(path=write_csv(tmp_path, GOOD))

    assert (result.total, result.imported, result.duplicates, result.rejected, result.customers_created) == (
        3,
        3,
        0,
        0,
        1,
    )
    existing.refresh_from_db()
    assert (existing.total_spend, existing.order_count, existing.tier.name) == (Decimal("1520.50"), 2, "VIP")
    assert existing.lifecycle_stage == Lifecycle.REPURCHASE
    new = Customer.objects.get(phone="+8613900001111")
    assert (new.origin, new.total_spend) == (Customer.Origin.IMPORT, Decimal("99.00"))
    assert Order.objects.get(external_id="TB-1").source == "天猫旗舰店"


def test_importing_the_same_file_again_changes_nothing(tmp_path):
    path = write_csv(tmp_path, GOOD)
    orders_import(path=path)
    before = (Order.objects.count(), Customer.objects.count(), TimelineEntry.objects.count())

    again = orders_import(path=path)

    assert (again.imported, again.duplicates, again.customers_created) == (0, 3, 0)
    assert (Order.objects.count(), Customer.objects.count(), TimelineEntry.objects.count()) == before


def test_bad_rows_are_rejected_with_row_column_and_reason_and_leave_nothing(tmp_path):
    rows = [
        GOOD[0],
        ["12345", "TB-9", "10", "2026-03-01 10:00:00", ""],  # row 2: phone
        ["13812345678", "", "10", "2026-03-01 10:00:00", ""],  # row 3: order id
        ["13700001111", "TB-10", "ten", "2026-03-01 10:00:00", ""],  # row 4: amount (and no customer left behind)
        ["13812345678", "TB-11", "10", "yesterday", ""],  # row 5: time
        ["13812345678", "TB-12", "-5", "2026-03-01 10:00:00", ""],  # row 6: negative
        GOOD[1],  # row 7: fine
    ]

    with translation.override("en"):
        result = orders_import(path=write_csv(tmp_path, rows))

    assert (result.total, result.imported, result.rejected) == (6, 1, 5)
    assert [(row, column) for row, column, _reason in result.errors] == [
        (2, "手机号"),
        (3, "订单号"),
        (4, "实付金额"),
        (5, "下单时间"),
        (6, "实付金额"),
    ]
    assert "not a valid phone number" in result.errors[0][2]
    assert "negative" in result.errors[4][2]
    assert list(Order.objects.values_list("external_id", flat=True)) == ["TB-1"]
    assert not Customer.objects.filter(phone="+8613700001111").exists()


def test_an_order_id_already_recorded_with_other_values_is_rejected(tmp_path):
    orders_import(path=write_csv(tmp_path, GOOD[:2]))

    result = orders_import(path=write_csv(tmp_path, [GOOD[0], ["13812345678", "TB-1", "1", "2026-03-01 10:00:00", ""]]))

    assert (result.rejected, result.errors[0][:2]) == (1, (2, "订单号"))
    assert Order.objects.get(external_id="TB-1").amount == Decimal("320.00")


def test_an_xlsx_export_with_english_headers_and_excel_dates(tmp_path):
    from datetime import datetime

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Order No", "Phone", "Amount", "Paid At"])
    sheet.append(["X-1", "13812345678", 88.8, datetime(2026, 3, 1, 12, 0)])
    path = tmp_path / "orders.xlsx"
    book.save(path)

    result = orders_import(path=path)

    assert (result.imported, result.rejected) == (1, 0)
    assert Order.objects.get().amount == Decimal("88.80")


def test_a_file_without_a_required_column_fails_before_anything_is_stored(tmp_path):
    with pytest.raises(ImportFileError):
        orders_import(
            path=write_csv(tmp_path, [["手机号", "订单号", "下单时间"], ["13812345678", "TB-1", "2026-03-01 10:00"]])
        )

    assert (Order.objects.count(), Customer.objects.count()) == (0, 0)


def test_the_command_prints_a_summary_and_every_rejected_row(tmp_path):
    out = StringIO()
    rows = [*GOOD, ["12345", "TB-9", "10", "2026-03-01 10:00:00", ""]]

    with translation.override("en"):
        call_command("import_orders", str(write_csv(tmp_path, rows)), stdout=out)

    text = out.getvalue()
    assert "4 rows — 3 imported, 0 already imported, 1 rejected; 2 new customers" in text
    assert "row 5, 手机号:" in text
    with pytest.raises(CommandError):
        call_command("import_orders", str(tmp_path / "missing.csv"))
