"""Writes of the customers app, one module per concern; import them from here.

- ``wecom``: employees, external contacts and follow relations as WeCom reports them (callbacks, full sync)
- ``identity``: customers, phone binding and merges
- ``timeline``: the follow-up timeline
- ``stages``: lifecycle and opportunity stages
- ``orders``: orders and member tiers
"""

from customers.services.identity import (
    contacts_link_customers,
    customer_bind_phone,
    customer_create,
    customer_merge,
    customer_phone_reveal,
    customer_update,
)
from customers.services.orders import customer_spend_refresh, order_record
from customers.services.stages import (
    customer_referral_record,
    lifecycle_advance,
    lifecycle_set,
    opportunity_stage_set,
)
from customers.services.timeline import customer_touch, timeline_add, timeline_note_add
from customers.services.wecom import (
    ContactPage,
    FollowChange,
    contact_page_parse,
    contact_pages_merge,
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
    "contact_pages_merge",
    "contacts_link_customers",
    "customer_bind_phone",
    "customer_create",
    "customer_merge",
    "customer_phone_reveal",
    "customer_referral_record",
    "customer_spend_refresh",
    "customer_touch",
    "customer_update",
    "employee_mark_resigned",
    "employee_upsert",
    "external_contact_upsert_from_wecom",
    "external_contacts_upsert_from_wecom",
    "follow_relation_mark",
    "follow_relation_upsert",
    "follow_relations_apply",
    "lifecycle_advance",
    "lifecycle_set",
    "opportunity_stage_set",
    "order_record",
    "timeline_add",
    "timeline_note_add",
]
