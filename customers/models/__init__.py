"""The customers app's models: WeCom-side records (employees, external contacts, follow relations) and the
phone-keyed customer with its timeline, stages, orders and merges."""

from customers.models.customer import (
    Customer,
    CustomerMerge,
    Lifecycle,
    MemberTier,
    OpportunityStage,
    StageChange,
)
from customers.models.imports import ImportJob
from customers.models.orders import Order
from customers.models.timeline import TimelineEntry
from customers.models.transfers import CustomerAlert, CustomerTransfer
from customers.models.wecom import (
    URL_LENGTH,
    WECOM_ID_LENGTH,
    Employee,
    ExternalContact,
    FollowRelation,
    validate_list_fields,
    validate_list_of,
)

__all__ = [
    "URL_LENGTH",
    "WECOM_ID_LENGTH",
    "Customer",
    "CustomerAlert",
    "CustomerMerge",
    "CustomerTransfer",
    "Employee",
    "ExternalContact",
    "FollowRelation",
    "ImportJob",
    "Lifecycle",
    "MemberTier",
    "OpportunityStage",
    "Order",
    "StageChange",
    "TimelineEntry",
    "validate_list_fields",
    "validate_list_of",
]
