"""The columns of a calls or SMS file, and the validation of one row into a record ready to store.

Columns are found by their header, in English or Chinese, ignoring case, spaces, ``_``/``-`` and a unit in
brackets (``通话时长（秒）`` is ``通话时长``); their order does not matter and other columns are ignored.

Calls: phone, time, direction, duration (required); employee, call id, remark (optional).
SMS: phone, time, direction, content (required); employee, SMS id (optional).

A row is rejected (never partly imported) when a value is missing or invalid, or when the employee column names
a userid that no employee has: staff correct the report's rows and import them again.

Each record gets a ``source_key`` that depends only on the row's content, so importing the same file again finds
every row already stored. The call id (SMS id) when the file has one; otherwise the time and a hash of phone,
direction and duration (SMS: content). The time leads the key, so that a file sorted by time inserts into one end
of the unique index instead of all over it. The employee and remark are not part of the key: importing the file
again with them filled in does not record the calls a second time.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.imports.readers import ImportFileError
from customers.models import ImportJob
from customers.models.timeline import SOURCE_KEY_LENGTH
from customers.phones import phone_normalize

MAX_DURATION = 24 * 3600
MAX_CONTENT = 5000
SUMMARY_LENGTH = 255
FUTURE_TOLERANCE = timedelta(days=1)
PHONE_CACHE_SIZE = 200_000
OFFSET_CACHE_SIZE = 100_000


class Column:
    def __init__(self, field: str, label: Any, names: str, *, required: bool = True):
        self.field = field
        self.label = label  # lazy text: names the column in messages
        self.names = tuple(names.split())  # the accepted headers, as header_key gives them
        self.required = required


PHONE = Column(
    "phone", _("phone"), "phone mobile phonenumber 手机号 手机 手机号码 电话 电话号码 号码 客户电话 客户号码 客户手机号"
)
TIME = Column(
    "time",
    _("time"),
    "time datetime calltime smstime starttime startedat sentat "
    "时间 通话时间 呼叫时间 开始时间 发送时间 接收时间 短信时间",
)
DIRECTION = Column("direction", _("direction"), "direction type 方向 呼叫方向 通话方向 呼叫类型 收发 收发方向 短信方向")
DURATION = Column("duration", _("duration"), "duration seconds durationseconds talktime 时长 通话时长 通话秒数")
EMPLOYEE = Column(
    "employee",
    _("employee"),
    "employee userid employeeuserid staff agent 员工 员工账号 员工userid 成员 成员账号 坐席",
    required=False,
)
CALL_ID = Column("external_id", _("call id"), "callid id 通话id 通话编号 呼叫id 录音id", required=False)
REMARK = Column("remark", _("remark"), "remark summary note notes 备注 摘要 通话备注 通话小结", required=False)
CONTENT = Column("content", _("content"), "content text message body 内容 短信内容 短信")
SMS_ID = Column("external_id", _("SMS id"), "smsid messageid id 短信id 短信编号 消息id", required=False)

COLUMNS = {
    ImportJob.Kind.CALLS: (PHONE, TIME, DIRECTION, DURATION, EMPLOYEE, CALL_ID, REMARK),
    ImportJob.Kind.SMS: (PHONE, TIME, DIRECTION, CONTENT, EMPLOYEE, SMS_ID),
}
KEY_PREFIX = {ImportJob.Kind.CALLS: "call", ImportJob.Kind.SMS: "sms"}

DIRECTIONS = {
    **dict.fromkeys(("in", "inbound", "incoming", "received", "呼入", "来电", "接收", "收", "上行"), "in"),
    **dict.fromkeys(("out", "outbound", "outgoing", "sent", "呼出", "去电", "外呼", "发送", "发", "下行"), "out"),
}

_UNIT = re.compile(r"[(（\[【].*?[)）\]】]")
_HEADER_NOISE = str.maketrans("", "", " _-\u3000\t")
_LOOSE_TIME = re.compile(
    r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?[ T]*(\d{1,2})[:：时](\d{1,2})(?:[:：分](\d{1,2})(?:\.\d+)?秒?)?"
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_CLOCK = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})")  # [h:]mm:ss, as call centres write durations


def header_key(text: str) -> str:
    return _UNIT.sub("", text).translate(_HEADER_NOISE).lower()


class RowError(Exception):
    def __init__(self, column: str, message: Any):
        self.column, self.message = column, message
        super().__init__(f"{column}: {message}")


class Record(NamedTuple):
    phone: str
    occurred_at: datetime
    source_key: str
    employee_id: int | None
    summary: str
    content: str
    data: str  # JSON text


def map_header(header: list[str], columns: tuple[Column, ...]) -> dict[str, int]:
    """``{field: column index}``; a missing required column or one given twice fails the whole file."""
    keys = [header_key(text) for text in header]
    found: dict[str, int] = {}
    for column in columns:
        matches = [index for index, key in enumerate(keys) if key in column.names]
        if len(matches) > 1:
            raise ImportFileError(
                _("Columns %(names)s are all the %(column)s column: keep one.")
                % {"names": ", ".join(f"“{header[i]}”" for i in matches), "column": column.label},
                field=column.field,
            )
        if matches:
            found[column.field] = matches[0]
    missing = [column for column in columns if column.required and column.field not in found]
    if missing:
        raise ImportFileError(
            _("Row 1 lacks required columns: %(columns)s.")
            % {
                "columns": "; ".join(
                    _("%(column)s (a header such as %(names)s)")
                    % {"column": column.label, "names": ", ".join(f"“{name}”" for name in column.names[:4])}
                    for column in missing
                )
            },
            field=missing[0].field,
        )
    return found


class RowParser:
    """Validates rows of one file into ``Record``s; ``parse`` raises ``RowError`` naming the file's column.

    The hot path of a million-row import: one pass, field by field, in a single ``try``.
    """

    def __init__(self, *, kind: str, header: list[str], employees: dict[str, int], job_id: int, tz: tzinfo):
        self.kind, self.header, self.employees, self.job_id, self.tz = kind, header, employees, job_id, tz
        self.index = map_header(header, COLUMNS[kind])
        self.width = len(header)
        self.prefix = KEY_PREFIX[kind]
        self.id_limit = SOURCE_KEY_LENGTH - len(self.prefix) - len(":id:")
        self.latest = timezone.now() + FUTURE_TOLERANCE
        self.labels = {"in": str(_("Inbound call")), "out": str(_("Outbound call"))}
        # a customer calls more than once: most numbers repeat, and a dict hit costs 0.1 µs against 3
        self.phones: dict[str, str] = {}
        self.offsets: dict[Any, timedelta] = {}

    def parse(self, cells: list[Any]) -> Record:
        if len(cells) != self.width:
            cells = self._fit(cells)
        index = self.index
        field = "phone"
        try:
            phone = self._phone(cells[index["phone"]])
            field = "time"
            occurred_at = self._time(cells[index["time"]])
            field = "direction"
            direction = _direction(cells[index["direction"]])
            field = "employee"
            employee_id = self._employee(cells[index["employee"]]) if "employee" in index else None
            field = "external_id"
            external_id = self._external_id(cells[index["external_id"]]) if "external_id" in index else ""
            if self.kind == ImportJob.Kind.CALLS:
                field = "duration"
                duration = _duration(cells[index["duration"]])
                content = _text(cells[index["remark"]]) if "remark" in index else ""
                minutes, seconds = divmod(duration, 60)
                summary = (
                    content.split("\n", 1)[0][:SUMMARY_LENGTH] or f"{self.labels[direction]} {minutes}:{seconds:02}"
                )
                details = f',"duration":{duration}'
                identity = f"{phone}|{direction}|{duration}"
            else:
                field = "content"
                content = _content(cells[index["content"]])
                summary, details = content.split("\n", 1)[0][:SUMMARY_LENGTH], ""
                identity = f"{phone}|{direction}|{content}"
        except (ValidationError, ValueError, TypeError) as exc:
            message = exc.messages[0] if isinstance(exc, ValidationError) else exc.args[0]
            raise RowError(self.header[index[field]], message) from None
        if external_id:
            key = f"{self.prefix}:id:{external_id}"
            details += f',"{self.prefix}_id":{json.dumps(external_id, ensure_ascii=False)}'
        else:
            digest = hashlib.blake2b(identity.encode(), digest_size=10).hexdigest()
            key = f"{self.prefix}:{int(occurred_at.timestamp())}:{digest}"
        # JSON by hand: every value but the id is a known-safe token, and json.dumps of a dict costs 3 µs a row
        data = f'{{"direction":"{direction}"{details},"import":{self.job_id}}}'
        return Record(phone, occurred_at, key, employee_id, summary, content, data)

    def _fit(self, cells: list[Any]) -> list[Any]:
        """Cells padded to the header's width (trailing empty cells are often left out); more values than
        columns is refused rather than guessed at."""
        if any(_text(cell) for cell in cells[self.width :]):
            raise RowError(
                str(_("row")),
                _("The row has %(cells)s values but row 1 names only %(columns)s columns (an unquoted comma?).")
                % {"cells": len(cells), "columns": self.width},
            )
        return [*cells[: self.width], *[None] * (self.width - len(cells))]

    def _phone(self, value: Any) -> str:
        text = value if type(value) is str else _text(value)
        if (e164 := self.phones.get(text)) is None:
            e164 = phone_normalize(text)
            if len(self.phones) >= PHONE_CACHE_SIZE:
                self.phones.clear()  # bounded memory; a cold cache only costs time
            self.phones[text] = e164
        return e164

    def _time(self, value: Any) -> datetime:
        if type(value) is str and len(value) == 19 and value[10] == " ":  # 2024-03-01 09:05:00, the usual form
            try:
                at = self._utc(datetime.fromisoformat(value), value[:16])
            except ValueError:
                at = parse_time(value)
        else:
            at = parse_time(value)
        if at.tzinfo is None:
            at = self._utc(at, at.replace(second=0, microsecond=0))
        if at > self.latest:
            raise ValueError(_("“%(value)s” is in the future.") % {"value": _text(value)})
        return at

    def _utc(self, local: datetime, minute: Any) -> datetime:
        """``local`` (naive, in TIME_ZONE; ``minute`` names its minute) in UTC. Each minute's offset is looked up
        once (zoneinfo is slow, and offsets change only on a minute), and UTC makes the comparisons, timestamps
        and text that follow cheap. An ambiguous local time reads as its first occurrence, as zoneinfo's does."""
        if (offset := self.offsets.get(minute)) is None:
            if len(self.offsets) >= OFFSET_CACHE_SIZE:
                self.offsets.clear()
            offset = self.offsets[minute] = self.tz.utcoffset(local)
        return (local - offset).replace(tzinfo=UTC)

    def _employee(self, value: Any) -> int | None:
        userid = _text(value)
        if not userid:
            return None
        # WeCom userids are case-insensitive
        if (pk := self.employees.get(userid.lower())) is None:
            raise ValueError(_("No employee has the WeCom userid “%(userid)s”.") % {"userid": userid[:64]})
        return pk

    def _external_id(self, value: Any) -> str:
        text = _text(value)
        if len(text) > self.id_limit:
            raise ValueError(_("The id is longer than %(max)s characters.") % {"max": self.id_limit})
        return text


def _text(value: Any) -> str:
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a number cell (13800138000.0, an id, a duration)
    return str(value).strip()


def parse_time(value: Any) -> datetime:
    """A cell as a datetime (naive when the file gave no zone: the caller localizes); ValueError says why not."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        raise ValueError(_("%(value)s has no time of day.") % {"value": value})
    if isinstance(value, int | float) and 25569 <= value < 73051:  # an Excel serial day number, 1970–2099
        from openpyxl.utils.datetime import from_excel

        return from_excel(value)
    text = _text(value)
    if not text:
        raise ValueError(_("The time is empty."))
    if ":" in text:
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    if match := _LOOSE_TIME.fullmatch(text):
        year, month, day, hour, minute, second = (int(part or 0) for part in match.groups())
        try:
            return datetime(year, month, day, hour, minute, second)  # naive: the caller localizes
        except ValueError:
            pass
    raise ValueError(
        _("“%(value)s” is not a date and time (expected YYYY-MM-DD HH:MM[:SS] or YYYY/MM/DD HH:MM[:SS]).")
        % {"value": text[:40]}
    )


def _direction(value: Any) -> str:
    if type(value) is str and (direction := DIRECTIONS.get(value)):
        return direction
    text = _text(value).lower()
    if not text:
        raise ValueError(_("The direction is empty (in or out, 呼入 or 呼出)."))
    if (direction := DIRECTIONS.get(text)) is None:
        raise ValueError(_("“%(value)s” is not a direction (in, out, 呼入, 呼出, 接收, 发送).") % {"value": text[:20]})
    return direction


def _duration(value: Any) -> int:
    if type(value) is str and value.isascii() and value.isdigit() and len(value) < 6:
        number = int(value)
        if number <= MAX_DURATION:
            return number
    if isinstance(value, bool):
        raise ValueError(_("The duration is not a number of seconds."))
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(_("The duration is not a number of seconds."))
        number = value
    else:
        text = _text(value).removesuffix("秒").removesuffix("s").strip()
        if not text:
            raise ValueError(_("The duration is empty (0 for an unanswered call)."))
        if clock := _CLOCK.fullmatch(text):
            hours, minutes, seconds = (int(part or 0) for part in clock.groups())
            number = hours * 3600 + minutes * 60 + seconds
        elif _NUMBER.fullmatch(text):
            number = float(text)
        else:
            raise ValueError(_("“%(value)s” is not a number of seconds.") % {"value": text[:20]})
    if number < 0:
        raise ValueError(_("The duration %(value)s is negative.") % {"value": _text(value)})
    if number != int(number):
        raise ValueError(_("The duration %(value)s is not a whole number of seconds.") % {"value": _text(value)})
    if number > MAX_DURATION:
        raise ValueError(_("The duration %(value)s is longer than a day.") % {"value": _text(value)})
    return int(number)


def _content(value: Any) -> str:
    text = _text(value)
    if not text:
        raise ValueError(_("The content is empty."))
    if len(text) > MAX_CONTENT:
        raise ValueError(_("The content is longer than %(max)s characters.") % {"max": MAX_CONTENT})
    return text
