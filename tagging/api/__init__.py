"""The tagging REST API, one module per concern; each module has its ``urlpatterns``."""
