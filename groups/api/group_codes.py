"""Placeholder: filled in by the group_codes work (its urlpatterns are mounted under /api/groups/)."""

urlpatterns: list = []
