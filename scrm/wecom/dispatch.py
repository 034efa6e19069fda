"""Which code handles which callback event.

Apps register their handlers here (in their AppConfig.ready); scrm/wecom never imports an app. A handler gets
the ``CallbackEvent`` and must be idempotent: an event can be replayed from the admin, and a worker that dies
after the handler committed may run it again.
"""

from collections import defaultdict
from collections.abc import Callable

from scrm.wecom.events import CallbackEvent

Handler = Callable[[CallbackEvent], None]

_handlers: dict[tuple[str, str], list[Handler]] = defaultdict(list)


def register(event: str, change_type: str) -> Callable[[Handler], Handler]:
    """``@register("change_external_contact", "add_external_contact")``; change_type "*" matches any."""

    def decorator(handler: Handler) -> Handler:
        if handler not in _handlers[(event, change_type)]:
            _handlers[(event, change_type)].append(handler)
        return handler

    return decorator


def unregister(event: str, change_type: str, handler: Handler) -> None:
    if handler in _handlers[(event, change_type)]:
        _handlers[(event, change_type)].remove(handler)


def handlers_for(event: CallbackEvent) -> list[Handler]:
    return [*_handlers.get((event.event, event.change_type), []), *_handlers.get((event.event, "*"), [])]
