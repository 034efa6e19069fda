"""Placeholder: filled in by the channel_codes work (its urlpatterns are mounted under /api/groups/)."""

urlpatterns: list = []
