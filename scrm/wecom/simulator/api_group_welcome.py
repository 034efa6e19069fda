"""入群欢迎语素材 (group welcome templates): externalcontact/group_welcome_template/add|edit|get|del.

WeCom's rules (developer.work.weixin.qq.com, document 92366): at most 100 templates per corp; ``text.content`` at
most 3000 bytes; text, image, link, miniprogram, file and video may not all be empty, and a part given as an empty
object is refused with 40063 ("some parameters are empty", as SDKs that sent empty parts found out); text goes
with at most one of the others (WeCom sends the first present in the order image, link, miniprogram, file, video).
An app edits and deletes only the templates it created; here every template is the app's own.
"""

from __future__ import annotations

from typing import Any

from scrm.wecom.simulator.routing import ApiError, Call, api
from scrm.wecom.simulator.state import SimState

MAX_TEMPLATES = 100
MAX_TEXT_BYTES = 3000
PARTS = ("image", "link", "miniprogram", "file", "video")
REQUIRED = {"link": ("title", "url"), "miniprogram": ("title", "pic_media_id", "appid", "page")}


def templates(state: SimState) -> dict[str, dict[str, Any]]:
    """The corp's templates. Kept beside the state's own dicts (state.py is not this module's) and dropped with
    them: a reset makes new dicts, and the templates made before it belong to the old ones."""
    store = getattr(state, "_group_welcome_templates", None)
    if store is None or store[0] is not state.groups:
        store = (state.groups, {})
        state._group_welcome_templates = store  # type: ignore[attr-defined]
    return store[1]


def _content(call: Call, *, creating: bool) -> dict[str, Any]:
    body = call.body
    content: dict[str, Any] = {}
    if "text" in body:
        text = body["text"]
        if not isinstance(text, dict) or not text.get("content"):
            raise ApiError(40063, "some parameters are empty: text.content")
        if len(str(text["content"]).encode()) > MAX_TEXT_BYTES:
            raise ApiError(40058, f"invalid Request Parameter: text.content exceeds {MAX_TEXT_BYTES} bytes")
        content["text"] = {"content": str(text["content"])}
    for part in PARTS:
        if part not in body:
            continue
        value = body[part]
        if not isinstance(value, dict) or not value:
            raise ApiError(40063, f"some parameters are empty: {part}")
        missing = [field for field in REQUIRED.get(part, ()) if not value.get(field)]
        if part == "image" and not (value.get("media_id") or value.get("pic_url")):
            missing.append("media_id")
        if part in ("file", "video") and not value.get("media_id"):
            missing.append("media_id")
        if missing:
            raise ApiError(40063, f"some parameters are empty: {part}.{missing[0]}")
        content[part] = dict(value)
    if creating and not content:
        raise ApiError(40063, "some parameters are empty: text, image, link, miniprogram, file and video")
    return content


def _template(call: Call) -> dict[str, Any]:
    template = templates(call.state).get(call.required("template_id"))
    if template is None:
        # WeCom's errcode for an unknown template is not documented; the simulator answers invalid parameter.
        raise ApiError(40058, "invalid Request Parameter: template_id")
    return template


@api("externalcontact/group_welcome_template/add")
def add_template(call: Call) -> dict[str, Any]:
    content = _content(call, creating=True)
    store = templates(call.state)
    if len(store) >= MAX_TEMPLATES:
        raise ApiError(40058, f"invalid Request Parameter: at most {MAX_TEMPLATES} group welcome templates")
    template_id = call.state.new_id("msg", "group_welcome_template", 40)
    store[template_id] = {
        "template_id": template_id,
        "notify": int(call.body.get("notify", 1)),
        "create_time": call.state.now(),
        **content,
    }
    return {"template_id": template_id}


@api("externalcontact/group_welcome_template/edit")
def edit_template(call: Call) -> dict[str, Any]:
    template = _template(call)
    content = _content(call, creating=False)
    if content:  # an edit replaces the message: parts not given are gone
        for key in ("text", *PARTS):
            template.pop(key, None)
        template.update(content)
    return {}


@api("externalcontact/group_welcome_template/get")
def get_template(call: Call) -> dict[str, Any]:
    template = _template(call)
    return {key: value for key, value in template.items() if key in ("text", *PARTS)}


@api("externalcontact/group_welcome_template/del")
def del_template(call: Call) -> dict[str, Any]:
    templates(call.state).pop(_template(call)["template_id"])
    return {}
