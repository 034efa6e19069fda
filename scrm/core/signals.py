"""Carry the request id from the web request into the Celery tasks it enqueues (a message header), and set
it while the task runs, so logs of both sides share one id."""

from celery.signals import before_task_publish, task_postrun, task_prerun

from scrm.core.logging import current_request_id, reset_request_id, set_request_id

_tokens: dict[str, object] = {}


@before_task_publish.connect(dispatch_uid="scrm.core.request_id_publish")
def _attach_request_id(headers=None, **kwargs) -> None:
    if headers is not None and current_request_id() != "-":
        headers.setdefault("request_id", current_request_id())


@task_prerun.connect(dispatch_uid="scrm.core.request_id_prerun")
def _enter_task(task_id=None, task=None, **kwargs) -> None:
    request_id = getattr(task.request, "request_id", None) or task_id
    _tokens[task_id] = set_request_id(request_id)


@task_postrun.connect(dispatch_uid="scrm.core.request_id_postrun")
def _leave_task(task_id=None, **kwargs) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        reset_request_id(token)
