"""The defaults ops start from: the opportunity pipeline the playbooks use and one member tier at 500."""

from decimal import Decimal

from django.db import migrations

STAGES = [
    ("初步接触", "open"),
    ("需求确认", "open"),
    ("方案报价", "open"),
    ("谈判", "open"),
    ("成交", "won"),
    ("流失", "lost"),
]
TIERS = [("VIP", Decimal("500"))]


def create_defaults(apps, schema_editor):
    OpportunityStage = apps.get_model("customers", "OpportunityStage")
    MemberTier = apps.get_model("customers", "MemberTier")
    for position, (name, outcome) in enumerate(STAGES, start=1):
        OpportunityStage.objects.get_or_create(name=name, defaults={"position": position, "outcome": outcome})
    for name, min_spend in TIERS:
        MemberTier.objects.get_or_create(min_spend=min_spend, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("customers", "0003_customers_timeline_orders_stages")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
