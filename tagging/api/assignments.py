"""The assignments API (being written), mounted under /api/tagging/."""

urlpatterns: list = []
