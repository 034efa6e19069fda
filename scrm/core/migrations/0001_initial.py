from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Heartbeat",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=100, unique=True, verbose_name="key")),
                ("seen_at", models.DateTimeField(verbose_name="last seen")),
                ("hostname", models.CharField(blank=True, max_length=255, verbose_name="worker")),
            ],
            options={"verbose_name": "heartbeat", "verbose_name_plural": "heartbeats", "ordering": ["key"]},
        ),
    ]
