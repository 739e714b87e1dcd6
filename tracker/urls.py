"""Root URLconf. Paths are a contract (DESIGN section 6)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import accounts, reports, views

inspection_patterns = [
    path("inspections/", views.inspection_list, name="inspection-list"),
    path("inspections/<slug:slug>/", views.inspection_detail, name="inspection-detail"),
    path("findings/<int:pk>/", views.finding_detail, name="finding-detail"),
]

tracker_patterns = [
    path("", views.home, name="home"),
    path("plans/", views.PlanListView.as_view(), name="plan-list"),
    path("plans/bulk/", views.plan_bulk, name="plan-bulk"),
    path("plans/export.csv", reports.export_csv, name="plan-export-csv"),
    path("plans/export.xlsx", reports.export_xlsx, name="plan-export-xlsx"),
    path("plans/<int:pk>/", views.plan_detail, name="plan-detail"),
    path("plans/<int:pk>/<slug:action>/", views.plan_action, name="plan-action"),
    path("dashboard/", reports.dashboard, name="dashboard"),
    path("organisations/<slug:slug>/board-pack/", reports.board_pack, name="board-pack"),
    path("evidence/<int:pk>/", views.evidence_download, name="evidence-download"),
]

urlpatterns = [
    path("", include((tracker_patterns, "tracker"))),
    path("", include((inspection_patterns, "inspections"))),
    path("imports/", include("tracker.imports.urls")),
    path("api/", include("tracker.api.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", accounts.account, name="account"),
    path("accounts/two-factor/", accounts.two_factor_verify, name="two-factor-verify"),
    path("accounts/two-factor/setup/", accounts.two_factor_setup, name="two-factor-setup"),
    path("accounts/two-factor/remove/", accounts.two_factor_remove, name="two-factor-remove"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]

handler404 = "tracker.views.page_not_found"
