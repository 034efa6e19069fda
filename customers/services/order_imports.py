"""Orders from a shop's export (CSV or XLSX): each row becomes an order of the customer with that phone number.

A shop exports thousands of orders, not millions, so every row goes through ``order_record``, the same rules as
the API: idempotent by the shop's order id (importing the file again adds nothing), spend, member tier and the
conversion/repurchase stages recomputed. A number no customer has creates one (``origin = import``). A rejected
row is reported with its row number, its column and the reason, and nothing of it is stored.

Columns (by header, English or Chinese; order free): phone, order id, amount, time (required); source (optional).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.imports.readers import open_table
from customers.imports.rows import Column, map_header, parse_time
from customers.models import Customer
from customers.phones import phone_normalize
from customers.services.orders import order_record

PHONE = Column("phone", _("phone"), "phone mobile 手机号 手机 手机号码 电话 收货人手机 买家手机 客户手机号")
ORDER_ID = Column("external_id", _("order id"), "orderid orderno ordernumber 订单号 订单编号 订单id 外部订单号")
AMOUNT = Column("amount", _("amount"), "amount total paid payment 金额 订单金额 实付金额 支付金额 实收金额")
TIME = Column("ordered_at", _("time"), "time orderedat ordertime paidat createdat 时间 下单时间 支付时间 付款时间")
SOURCE = Column("source", _("source"), "source channel shop store 来源 渠道 店铺 门店", required=False)
COLUMNS = (PHONE, ORDER_ID, AMOUNT, TIME, SOURCE)


@dataclass
class OrderImport:
    """What an import did. ``total == imported + duplicates + rejected``; ``errors`` are (row, column, reason)."""

    total: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    customers_created: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)


def orders_import(
    *, path: str | Path, actor=None, progress: Callable[[int, int | None], None] | None = None
) -> OrderImport:
    """Import every row of the file; raises ``ImportFileError`` (nothing stored) when the file cannot be read or
    lacks a required column."""
    result = OrderImport()
    with open_table(path) as table:
        index = map_header(table.header, COLUMNS)
        for number, cells in table.rows:
            if not any(str(cell or "").strip() for cell in cells):
                continue  # a blank line is not an order
            result.total += 1
            try:
                _import_row(cells, index, table.header, actor, result)
            except _RowRejected as exc:
                result.rejected += 1
                result.errors.append((number, exc.column, str(exc.reason)))
            if progress and result.total % 500 == 0:
                progress(result.total, table.estimated_rows)
    if progress:
        progress(result.total, result.total)
    return result


class _RowRejected(Exception):
    def __init__(self, column: str, reason: Any):
        self.column, self.reason = column, reason


def _cell(cells: list[Any], index: dict[str, int], name: str) -> Any:
    position = index.get(name)
    return cells[position] if position is not None and position < len(cells) else None


def _import_row(cells: list[Any], index: dict[str, int], header: list[str], actor, result: OrderImport) -> None:
    def rejected(name: str, reason: Any) -> _RowRejected:
        return _RowRejected(header[index[name]], reason)

    try:
        phone = phone_normalize(str(_cell(cells, index, "phone") or ""))
    except ValidationError as exc:
        raise rejected("phone", exc.messages[0]) from None
    external_id = str(_cell(cells, index, "external_id") or "").strip()
    if not external_id:
        raise rejected("external_id", _("The order id is empty."))
    try:
        amount = Decimal(str(_cell(cells, index, "amount") or "").replace(",", "").replace("¥", "").strip())
    except InvalidOperation:
        raise rejected(
            "amount", _("“%(value)s” is not an amount.") % {"value": _cell(cells, index, "amount")}
        ) from None
    try:
        ordered_at = parse_time(_cell(cells, index, "ordered_at"))
    except ValueError as exc:
        raise rejected("ordered_at", exc.args[0]) from None
    if timezone.is_naive(ordered_at):
        ordered_at = timezone.make_aware(ordered_at)
    source = str(_cell(cells, index, "source") or "").strip()[:32]
    with transaction.atomic():
        customer = Customer.objects.filter(phone=phone).first()
        created_customer = customer is None
        if created_customer:
            customer = Customer.objects.create(phone=phone, origin=Customer.Origin.IMPORT)
        try:
            _order, created = order_record(
                customer=customer,
                external_id=external_id,
                amount=amount,
                ordered_at=ordered_at,
                source=source,
                actor=actor,
            )
        except ValidationError as exc:
            # leaving the block by the exception rolls back the new customer, if any, with the refused order
            name, messages = next(iter(exc.message_dict.items()))
            raise rejected(name if name in index else "external_id", messages[0]) from None
    if created:
        result.imported += 1
        result.customers_created += created_customer
    else:
        result.duplicates += 1
