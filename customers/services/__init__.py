"""Writes of the customers app, one module per concern; import them from here.

- ``wecom``: employees, external contacts and follow relations as WeCom reports them (callbacks, full sync)
- ``identity``: customers, phone binding and merges
- ``timeline``: the follow-up timeline
- ``stages``: lifecycle and opportunity stages
- ``orders``: orders and member tiers
"""

from customers.services.wecom import (
    ContactPage,
    FollowChange,
    contact_page_parse,
    employee_mark_resigned,
    employee_upsert,
    external_contact_upsert_from_wecom,
    external_contacts_upsert_from_wecom,
    follow_relation_mark,
    follow_relation_upsert,
    follow_relations_apply,
)

__all__ = [
    "ContactPage",
    "FollowChange",
    "contact_page_parse",
    "employee_mark_resigned",
    "employee_upsert",
    "external_contact_upsert_from_wecom",
    "external_contacts_upsert_from_wecom",
    "follow_relation_mark",
    "follow_relation_upsert",
    "follow_relations_apply",
]
