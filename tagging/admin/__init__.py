"""The tagging admin, one module per concern: the taxonomy, assignments, rules, segments and bulk jobs."""

from tagging.admin import assignments, jobs, rules, segments, taxonomy  # noqa: F401 - each registers its models
