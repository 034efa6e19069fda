"""Placeholder: filled in by the stats work (its urlpatterns are mounted under /api/groups/)."""

urlpatterns: list = []
