"""The stores CSV import for operations: one row per store, created or updated by its city and name, all or
nothing.

Every row is checked before anything is written; if any row has an error, the import raises ``StoreImportError``
listing each error by row number (as a spreadsheet shows it: the header is row 1) and column, and stores nothing.
A column the file leaves out keeps existing stores' value (and gives new stores the default); a column present
with an empty cell means its default: open, no address, no group live code.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from groups.models import GroupCode, Store
from groups.services.stores import EDITABLE_FIELDS, WGS84, _described, _value, coordinates
from scrm.core.errors import DomainError
from scrm.core.models import AuditLog
from scrm.core.services import SYSTEM_ACTOR, acting_user

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
# Excel in Chinese Windows saves "CSV" in the ANSI code page (GBK); GB18030 is its superset.
ENCODINGS = ("utf-8-sig", "gb18030")

# column → the headers accepted for it (compared lower-cased, spaces and dashes as underscores)
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name", "store", "store_name", "门店", "门店名称", "名称"),
    "city": ("city", "城市"),
    "address": ("address", "地址", "门店地址"),
    "latitude": ("latitude", "lat", "纬度"),
    "longitude": ("longitude", "lng", "lon", "经度"),
    "is_open": ("open", "is_open", "营业", "是否营业", "状态"),
    "group_code": ("group_code_state", "group_code", "state", "群活码", "群活码state", "渠道标识"),
}
REQUIRED = ("name", "city", "latitude", "longitude")
COLUMN_LABELS = {
    "name": gettext_lazy("name"),
    "city": gettext_lazy("city"),
    "address": gettext_lazy("address"),
    "latitude": gettext_lazy("latitude"),
    "longitude": gettext_lazy("longitude"),
    "is_open": gettext_lazy("open"),
    "group_code": gettext_lazy("group code state"),
}
YES = {"1", "y", "yes", "true", "open", "是", "营业", "开", "开业", "开放"}
NO = {"0", "n", "no", "false", "closed", "close", "否", "关", "关闭", "停业", "闭店"}


@dataclass(frozen=True)
class RowError:
    row: int
    field: str  # a column of COLUMNS, or "file"
    message: str

    @property
    def column(self) -> str:
        return str(COLUMN_LABELS.get(self.field, self.field))


class StoreImportError(DomainError):
    """The file was refused and nothing was stored; ``errors`` lists every problem by row and column."""

    code = "store_import"

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        first = errors[0]
        super().__init__(
            _("Nothing was imported: %(count)d errors, the first on row %(row)d (%(column)s): %(message)s")
            % {"count": len(errors), "row": first.row, "column": first.column, "message": first.message},
            field="file",
        )


@dataclass
class StoreImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stores: list[Store] = field(default_factory=list)


def stores_import_csv(*, data: bytes, actor, coordinate_system: str = WGS84) -> StoreImportResult:
    """Create or update the stores the CSV lists (by city and name), or raise ``StoreImportError`` and store
    nothing. ``coordinate_system`` ``"gcj02"`` converts coordinates picked on Amap or Tencent maps."""
    header, rows = _read(data)
    columns = _columns(header)
    errors: list[RowError] = []
    parsed: list[tuple[int, dict]] = []
    states = {state for _n, cells in rows if (state := _cell(cells, columns, "group_code"))}
    codes = {code.state: code for code in GroupCode.objects.filter(state__in=states)} if states else {}
    seen: dict[tuple[str, str], int] = {}
    for number, cells in rows:
        values, row_errors = _row(number, cells, columns, codes, coordinate_system)
        errors.extend(row_errors)
        if row_errors:
            continue
        key = (values["city"], values["name"])
        if key in seen:
            message = _("The same store (city and name) is on row %(row)d already.") % {"row": seen[key]}
            errors.append(RowError(number, "name", message))
            continue
        seen[key] = number
        parsed.append((number, values))
    if errors:
        raise StoreImportError(errors)
    if not parsed:
        raise StoreImportError([RowError(2, "file", _("The file has no stores below its header row."))])
    return _write(parsed, actor)


# ---- reading -----------------------------------------------------------------------------------------------------


def _read(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    if len(data) > MAX_BYTES:
        raise StoreImportError([RowError(1, "file", _("The file is over 5 MB: split it."))])
    for encoding in ENCODINGS:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise StoreImportError(
            [RowError(1, "file", _("The file's text is neither UTF-8 nor GB18030: save it from Excel as “CSV UTF-8”."))]
        )
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        numbered = [(reader.line_num, cells) for cells in reader]
    except csv.Error as exc:
        raise StoreImportError(
            [RowError(reader.line_num, "file", _("This line cannot be read as CSV: %(error)s.") % {"error": exc})]
        ) from exc
    if not numbered:
        raise StoreImportError([RowError(1, "file", _("The file is empty: row 1 must name the columns."))])
    header = numbered[0][1]
    # line_num counts physical lines; rows are numbered as a spreadsheet shows them (a quoted line break is one row)
    rows = [
        (index, cells) for index, (_line, cells) in enumerate(numbered[1:], start=2) if any(c.strip() for c in cells)
    ]
    if len(rows) > MAX_ROWS:
        raise StoreImportError(
            [RowError(1, "file", _("At most %(max)d stores per file: split it.") % {"max": MAX_ROWS})]
        )
    return header, rows


def _normal(header: str) -> str:
    return "_".join(header.strip().lower().replace("-", " ").split())


def _columns(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    errors = []
    for index, title in enumerate(header):
        name = _normal(title)
        for column, accepted in COLUMNS.items():
            if name in accepted:
                if column in found:
                    errors.append(RowError(1, column, _("Two columns are “%(title)s”.") % {"title": title.strip()}))
                found[column] = index
    for column in REQUIRED:
        if column not in found:
            errors.append(
                RowError(
                    1,
                    column,
                    _("Row 1 has no “%(column)s” column (accepted headers: %(headers)s).")
                    % {"column": COLUMN_LABELS[column], "headers": ", ".join(COLUMNS[column])},
                )
            )
    if errors:
        raise StoreImportError(errors)
    return found


def _cell(cells: list[str], columns: dict[str, int], column: str) -> str | None:
    """The cell's text, stripped; None when the file has no such column."""
    if column not in columns:
        return None
    index = columns[column]
    return cells[index].strip() if index < len(cells) else ""


def _row(number: int, cells: list[str], columns, codes, system) -> tuple[dict, list[RowError]]:
    errors: list[RowError] = []
    values: dict = {
        "name": " ".join(_cell(cells, columns, "name").split()),
        "city": " ".join(_cell(cells, columns, "city").split()),
    }
    address = _cell(cells, columns, "address")
    if address is not None:
        values["address"] = address
    try:
        values["latitude"], values["longitude"] = coordinates(
            _cell(cells, columns, "latitude"), _cell(cells, columns, "longitude"), system=system
        )
    except ValidationError as exc:
        errors.extend(
            RowError(number, name, message) for name, messages in exc.message_dict.items() for message in messages
        )
    opened = _cell(cells, columns, "is_open")
    if opened is not None:
        flag = opened.lower()
        if flag in YES or flag == "":
            values["is_open"] = True
        elif flag in NO:
            values["is_open"] = False
        else:
            errors.append(
                RowError(number, "is_open", _("Write yes or no (是/否, 1/0), not “%(value)s”.") % {"value": opened})
            )
    state = _cell(cells, columns, "group_code")
    if state is not None:
        values["group_code"] = codes.get(state) if state else None
        if state and state not in codes:
            errors.append(
                RowError(number, "group_code", _("No group live code has the state “%(state)s”.") % {"state": state})
            )
    # the model's own checks (required, lengths) on a throwaway instance; uniqueness is settled by the file's keys
    probe = Store(**{k: v for k, v in values.items() if k not in ("latitude", "longitude", "group_code")})
    probe.latitude, probe.longitude = values.get("latitude", 0), values.get("longitude", 0)
    try:
        probe.full_clean(
            exclude=["latitude", "longitude", "group_code"], validate_unique=False, validate_constraints=False
        )
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.extend(RowError(number, name, message) for message in messages)
    return values, errors


# ---- writing -----------------------------------------------------------------------------------------------------


def _write(parsed: list[tuple[int, dict]], actor) -> StoreImportResult:
    result = StoreImportResult()
    with transaction.atomic():
        cities = {values["city"] for _n, values in parsed}
        names = {values["name"] for _n, values in parsed}
        existing = {
            (store.city, store.name): store
            for store in Store.objects.select_for_update(of=("self",))
            .select_related("group_code")
            .filter(city__in=cities, name__in=names)
        }
        new: list[Store] = []
        changed: list[tuple[Store, dict]] = []
        for _number, values in parsed:
            store = existing.get((values["city"], values["name"]))
            if store is None:
                new.append(Store(**values))
                continue
            before = {name: _value(store, name) for name in EDITABLE_FIELDS}
            for name, value in values.items():
                setattr(store, name, value)
            changes = {name: [before[name], _value(store, name)] for name in EDITABLE_FIELDS}
            changes = {name: pair for name, pair in changes.items() if pair[0] != pair[1]}
            if changes:
                changed.append((store, changes))
            else:
                result.unchanged += 1
            result.stores.append(store)
        now = timezone.now()
        created = Store.objects.bulk_create(new, batch_size=1000) if new else []
        result.stores.extend(created)
        result.created = len(created)
        if changed:
            for store, _changes in changed:
                store.updated_at = now
            fields = sorted({name for _store, changes in changed for name in changes} | {"updated_at"})
            Store.objects.bulk_update([store for store, _c in changed], fields, batch_size=1000)
            result.updated = len(changed)
        entries = [(store, "create", _described(store)) for store in created]
        entries += [(store, "update", changes) for store, changes in changed]
        _audit(entries, actor=actor, at=now)
    return result


def _audit(entries: list[tuple[Store, str, dict]], *, actor, at) -> None:
    """One audit entry per store the import created or changed, as ``audit_record`` writes them, in a few INSERTs
    (an import of thousands of stores would otherwise spend its time on them one by one)."""
    user = acting_user(actor)
    label = actor.get_username() if user else SYSTEM_ACTOR
    AuditLog.objects.bulk_create(
        [
            AuditLog(
                actor=user,
                actor_label=label,
                action=f"import_{action}",
                target_type=store._meta.label_lower,
                target_id=str(store.pk),
                target_repr=str(store)[:255],
                changes={name: _plain(value) for name, value in changes.items()},
                at=at,
            )
            for store, action, changes in entries
        ],
        batch_size=1000,
    )


def _plain(value):
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value if value is None or isinstance(value, bool | int | str) else str(value)
