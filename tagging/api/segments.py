"""The segments API (being written), mounted under /api/tagging/."""

urlpatterns: list = []
