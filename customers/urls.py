"""The customers API, mounted under /api/ (see scrm/urls.py)."""

from django.urls import path

from customers import api

urlpatterns = [
    path("customers/", api.CustomerListView.as_view(), name="customers-list"),
    path("customers/by-phone/", api.CustomerByPhoneView.as_view(), name="customers-by-phone"),
    path("customers/<int:id>/", api.CustomerDetailView.as_view(), name="customers-detail"),
    path("customers/<int:id>/timeline/", api.CustomerTimelineView.as_view(), name="customers-timeline"),
    path("customers/<int:id>/notes/", api.CustomerNotesView.as_view(), name="customers-notes"),
    path("customers/<int:id>/stage/", api.CustomerStageView.as_view(), name="customers-stage"),
    path("customers/<int:id>/phone/", api.CustomerPhoneView.as_view(), name="customers-phone"),
    path("customers/<int:id>/orders/", api.CustomerOrdersView.as_view(), name="customers-orders"),
    path("customer-stages/", api.OpportunityStageListView.as_view(), name="customer-stages"),
]
