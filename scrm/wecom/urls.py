from django.urls import path

from scrm.wecom import views

urlpatterns = [path("callback", views.callback, name="wecom-callback")]
