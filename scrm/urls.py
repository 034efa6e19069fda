from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

from scrm.core import views as core_views
from scrm.core.api import MeView

admin.site.site_header = _("Private-domain SCRM administration")
admin.site.site_title = _("SCRM admin")
admin.site.index_title = _("Operations console")

api_urlpatterns = [
    path("auth/token/", obtain_auth_token, name="auth-token"),
    path("me/", MeView.as_view(), name="me"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("", include("customers.urls")),
    path("tagging/", include("tagging.urls")),
    path("groups/", include("groups.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_urlpatterns)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("wecom/", include("scrm.wecom.urls")),
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("", include("groups.public_urls")),
]

handler404 = "scrm.core.views.handler404"
handler500 = "scrm.core.views.handler500"
