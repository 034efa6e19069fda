"""The tagging API, mounted under /api/tagging/ (see scrm/urls.py)."""

from tagging.api import assignments, jobs, rules, segments, taxonomy

urlpatterns = [
    *taxonomy.urlpatterns,
    *assignments.urlpatterns,
    *rules.urlpatterns,
    *segments.urlpatterns,
    *jobs.urlpatterns,
]
