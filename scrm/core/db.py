"""Database helpers that are about durability and connections rather than any one model."""

from django.db import connection


def commit_without_waiting_for_disk() -> None:
    """Inside ``transaction.atomic``: PostgreSQL acknowledges this transaction's COMMIT before its WAL reaches
    the disk (``synchronous_commit = off`` for this transaction only; a no-op on other databases).

    Only for work that is safe to redo: a server crash may lose the last fraction of a second of such commits,
    whole (atomicity is unchanged, nothing is half-written). The full sync and the callback inbox use it, because
    both record their own progress in the same transaction and simply run the lost work again.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def postgres_only(sql: str, reverse_sql: str):
    """A migration step that runs only on PostgreSQL (GIN indexes, statistics): the embedded SQLite default has
    no such thing and does without."""
    from django.db import migrations

    def forward(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    def backward(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(reverse_sql)

    return migrations.RunPython(forward, backward, elidable=False)
