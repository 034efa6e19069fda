"""The groups API, mounted under /api/groups/ (see scrm/urls.py)."""

from groups.api import bots, channel_codes, group_codes, groups, stats, stores

urlpatterns = [
    *groups.urlpatterns,
    *bots.urlpatterns,
    *channel_codes.urlpatterns,
    *group_codes.urlpatterns,
    *stores.urlpatterns,
    *stats.urlpatterns,
]
