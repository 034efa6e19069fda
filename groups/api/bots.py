"""Placeholder: filled in by the bots work (its urlpatterns are mounted under /api/groups/)."""

urlpatterns: list = []
