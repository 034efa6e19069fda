"""Placeholder: filled in by the stores work (public pages, no login)."""

urlpatterns: list = []
