"""Callback events: WeCom's decrypted XML → a ``CallbackEvent``.

The self-built app format (Event, CreateTime) and the third-party format (InfoType, TimeStamp) are both read.
Lists come in two shapes — ``<MemChangeList><Item>a</Item><Item>b</Item></MemChangeList>`` and repeated
``<MemChangeList>a</MemChangeList>`` elements — and either yields the same list.
"""

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

# Event → the ChangeTypes we understand. Anything else is stored all the same, and marked unhandled.
KNOWN_CHANGE_TYPES: dict[str, frozenset[str]] = {
    "change_external_contact": frozenset(
        {
            "add_external_contact",
            "edit_external_contact",
            "add_half_external_contact",
            "del_external_contact",
            "del_follow_user",
            "transfer_fail",
            "msg_audit_approved",
        }
    ),
    "change_external_chat": frozenset({"create", "update", "dismiss"}),
    "change_external_tag": frozenset({"create", "update", "delete", "shuffle"}),
}
CHAT_UPDATE_DETAILS = frozenset({"add_member", "del_member", "change_owner", "change_name", "change_notice"})
LIST_FIELDS = frozenset({"MemChangeList"})


class EventParseError(ValueError):
    pass


@dataclass(frozen=True)
class CallbackEvent:
    event: str
    change_type: str
    create_time: int
    fields: dict[str, str]
    lists: dict[str, list[str]] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        return self.change_type in KNOWN_CHANGE_TYPES.get(self.event, ())

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)

    def as_payload(self) -> dict:
        """JSON-safe form stored in the inbox (and given back by ``from_payload``)."""
        return {
            "event": self.event,
            "change_type": self.change_type,
            "create_time": self.create_time,
            "fields": self.fields,
            "lists": self.lists,
        }

    @classmethod
    def from_payload(cls, payload: dict) -> "CallbackEvent":
        return cls(
            event=payload["event"],
            change_type=payload["change_type"],
            create_time=payload["create_time"],
            fields=payload["fields"],
            lists=payload.get("lists", {}),
        )


def parse_xml(text: str) -> Element:
    try:
        root = ElementTree.fromstring(text)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise EventParseError(f"malformed XML: {exc}") from exc
    if root.tag != "xml":
        raise EventParseError("root element must be <xml>")
    return root


def parse_event(text: str) -> CallbackEvent:
    root = parse_xml(text)
    fields: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    for child in root:
        if child.tag in LIST_FIELDS:
            items = [item.text or "" for item in child if item.tag == "Item"]
            if not items and (child.text or "").strip():
                items = [child.text.strip()]
            lists.setdefault(child.tag, []).extend(items)
        else:
            fields[child.tag] = (child.text or "").strip()
    event = fields.get("Event") or fields.get("InfoType") or ""
    if not event:
        raise EventParseError("neither Event nor InfoType present")
    raw_time = fields.get("CreateTime") or fields.get("TimeStamp") or "0"
    try:
        create_time = int(raw_time)
    except ValueError as exc:
        raise EventParseError(f"CreateTime is not an integer: {raw_time!r}") from exc
    return CallbackEvent(
        event=event, change_type=fields.get("ChangeType", ""), create_time=create_time, fields=fields, lists=lists
    )
