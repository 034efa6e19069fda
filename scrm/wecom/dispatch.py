"""Which code handles which callback event.

Apps register their handlers here (in their AppConfig.ready); scrm/wecom never imports an app. A handler gets
the ``CallbackEvent`` and must be idempotent: an event can be replayed from the admin, and a worker that dies
after the handler committed may run it again.
"""

from collections import defaultdict
from collections.abc import Callable

from scrm.wecom.events import CallbackEvent

Handler = Callable[[CallbackEvent], None]
BatchHandler = Callable[[list[CallbackEvent]], None]

_handlers: dict[tuple[str, str], list[Handler]] = defaultdict(list)


def register(event: str, change_type: str) -> Callable[[Handler], Handler]:
    """``@register("change_external_contact", "add_external_contact")``; change_type "*" matches any."""

    def decorator(handler: Handler) -> Handler:
        if handler not in _handlers[(event, change_type)]:
            _handlers[(event, change_type)].append(handler)
        return handler

    return decorator


def batched(apply_batch: BatchHandler) -> Callable[[Handler], Handler]:
    """Mark a handler as having a batch form: ``apply_batch(events)`` must have the same outcome as the handler on
    each event in order. The inbox drain then applies a run of such events in one transaction (a few set-based
    queries instead of a dozen per event), and falls back to the handler one event at a time if the batch fails,
    so one bad event cannot hold back the others. Events whose handlers have the same batch forms go in one batch."""

    def decorator(handler: Handler) -> Handler:
        handler.apply_batch = apply_batch  # type: ignore[attr-defined]
        return handler

    return decorator


def batch_form(handlers: list[Handler]) -> tuple[BatchHandler, ...] | None:
    """The batch forms of an event's handlers, in order, when every one of them has one."""
    forms = tuple(getattr(handler, "apply_batch", None) for handler in handlers)
    return forms if forms and all(forms) else None


def unregister(event: str, change_type: str, handler: Handler) -> None:
    if handler in _handlers[(event, change_type)]:
        _handlers[(event, change_type)].remove(handler)


def handlers_for(event: CallbackEvent) -> list[Handler]:
    return [*_handlers.get((event.event, event.change_type), []), *_handlers.get((event.event, "*"), [])]
