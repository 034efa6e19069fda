"""Placeholder: filled in by the stores work (its urlpatterns are mounted under /api/groups/)."""

urlpatterns: list = []
