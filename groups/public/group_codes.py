"""Placeholder: filled in by the group_codes work (public pages, no login)."""

urlpatterns: list = []
