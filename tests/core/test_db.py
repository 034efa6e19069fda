import time

import pytest
from django.db import connection

from customers.models import Employee
from scrm.core.db import analyze_grown_tables

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="statistics are PostgreSQL's")

EMPLOYEES = f"public.{Employee._meta.db_table}"


def _flushed_stats() -> None:
    # This backend's row counts reach pg_stat_user_tables when it goes idle, at most once a second.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    time.sleep(0.05)


def _analyzed_rows() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [EMPLOYEES])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_table_that_grew_past_its_statistics_is_analyzed_once():
    Employee.objects.bulk_create(Employee(userid=f"u{n}", name=f"员工{n}") for n in range(1200))
    _flushed_stats()

    first = analyze_grown_tables(min_changes=1000)
    _flushed_stats()
    second = analyze_grown_tables(min_changes=1000)

    assert EMPLOYEES in first
    assert _analyzed_rows() == 1200
    assert second == []


@pytest.mark.django_db(transaction=True)
def test_small_changes_are_left_to_autovacuum():
    Employee.objects.bulk_create(Employee(userid=f"u{n}", name=f"员工{n}") for n in range(20))
    _flushed_stats()

    assert EMPLOYEES not in analyze_grown_tables(min_changes=1000)
