"""Placeholder: filled in by the groups work (its urlpatterns are mounted under /api/groups/)."""

urlpatterns: list = []
