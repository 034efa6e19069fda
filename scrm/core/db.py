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


def analyze_grown_tables(*, min_changes: int = 1000, fraction: float = 1.0) -> list[str]:
    """ANALYZE the tables that changed by more than ``fraction`` of their size (and at least ``min_changes`` rows)
    since their statistics were last taken; the names analyzed. PostgreSQL only (elsewhere nothing, ``[]``).

    A bulk load into near-empty tables (a corp's first full sync) otherwise runs on statistics that still say
    "empty": key lookups get planned as hash joins over whole tables, and each page gets slower as the tables grow
    (the 100,000-contact sync fell from 1,300 to 600 contacts/s). Autovacuum would fix that only once it wakes,
    and not at all where it is off. Called every few pages, this costs one catalog read when nothing grew.
    """
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT quote_ident(s.schemaname) || '.' || quote_ident(s.relname) FROM pg_stat_user_tables s "
            "JOIN pg_class c ON c.oid = s.relid "
            "WHERE s.n_mod_since_analyze >= GREATEST(%s, %s * GREATEST(c.reltuples, 0)) ORDER BY 1",
            [min_changes, fraction],
        )
        tables = [name for (name,) in cursor.fetchall()]
        for table in tables:
            cursor.execute(f"ANALYZE {table}")
    return tables
