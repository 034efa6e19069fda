"""Public pages (no login) that customers reach by scanning our QR codes: a group live code's landing page and
the store router. Mounted at the site root (see scrm/urls.py)."""

from groups.public import group_codes, stores

urlpatterns = [*group_codes.urlpatterns, *stores.urlpatterns]
