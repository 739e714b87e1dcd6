"""Root URLconf. Paths are a contract (DESIGN section 6)."""

from django.contrib import admin
from django.urls import include, path

from . import accounts, jobs, public, reports, responses, sso, views

inspection_patterns = [
    path("inspections/", views.inspection_list, name="inspection-list"),
    path("inspections/<slug:slug>/", views.inspection_detail, name="inspection-detail"),
    path(
        "inspections/<slug:slug>/response/<slug:organisation_slug>.docx",
        responses.response_docx_view,
        name="response-docx",
    ),
    path(
        "inspections/<slug:slug>/response/<slug:organisation_slug>.pdf",
        responses.response_pdf_view,
        name="response-pdf",
    ),
    path(
        "inspections/<slug:slug>/response/<slug:organisation_slug>/", responses.response_upload, name="response-upload"
    ),
    path(
        "inspections/<slug:slug>/response/<slug:organisation_slug>/file/",
        responses.response_file,
        name="response-file",
    ),
    path("findings/<int:pk>/", views.finding_detail, name="finding-detail"),
    path("findings/<int:pk>/links/", views.finding_link, name="finding-link"),
    path("findings/<int:pk>/what-good-looks-like/", views.finding_success, name="finding-success"),
    path("findings/<int:pk>/links/<int:link_pk>/delete/", views.finding_unlink, name="finding-unlink"),
    path(
        "findings/<int:pk>/suggestions/<int:earlier_pk>/dismiss/",
        views.finding_dismiss_suggestion,
        name="finding-dismiss-suggestion",
    ),
]

tracker_patterns = [
    path("", views.home, name="home"),
    path("plans/", views.PlanListView.as_view(), name="plan-list"),
    path("plans/bulk/", views.plan_bulk, name="plan-bulk"),
    path("plans/export.csv", reports.export_csv, name="plan-export-csv"),
    path("plans/export.xlsx", reports.export_xlsx, name="plan-export-xlsx"),
    path("plans/<int:pk>/", views.plan_detail, name="plan-detail"),
    # Before plan-action, whose pattern would take "statement" for an action's name.
    path("plans/<int:pk>/statement/", public.plan_statement, name="plan-statement"),
    path("plans/<int:pk>/statement/approve/", public.plan_statement_approve, name="plan-statement-approve"),
    path("plans/<int:pk>/<slug:action>/", views.plan_action, name="plan-action"),
    path("dashboard/", reports.dashboard, name="dashboard"),
    path("search/", views.search_page, name="search"),
    path("organisations/<slug:slug>/board-pack/", reports.board_pack, name="board-pack"),
    path("organisations/<slug:slug>/settings/", public.organisation_settings, name="organisation-settings"),
    # The public progress page and its feeds: anonymous, for organisations that publish them (tracker/public.py).
    path("public/<slug:slug>/", public.public_page, name="public-page"),
    path("public/<slug:slug>.csv", public.public_csv, name="public-csv"),
    path("public/<slug:slug>.json", public.public_json, name="public-json"),
    path("organisations/<slug:slug>/board-pack.pdf", reports.board_pack_pdf, name="board-pack-pdf"),
    path("evidence/<int:pk>/", views.evidence_download, name="evidence-download"),
    path("jobs/export/", jobs.export_start, name="job-export"),
    path("jobs/board-pack/", jobs.board_pack_start, name="job-board-pack"),
    path("jobs/<uuid:pk>/", jobs.job_detail, name="job-detail"),
    path("jobs/<uuid:pk>/download/", jobs.job_download, name="job-download"),
]

urlpatterns = [
    path("", include((tracker_patterns, "tracker"))),
    path("", include((inspection_patterns, "inspections"))),
    path("imports/", include("tracker.imports.urls")),
    path("api/", include("tracker.api.urls")),
    path("accounts/login/", sso.SignInView.as_view(), name="login"),
    path("accounts/logout/", sso.sign_out, name="logout"),
    path("accounts/oidc/login/", sso.sign_in_start, name="oidc-login"),
    path("accounts/oidc/callback/", sso.sign_in_callback, name="oidc-callback"),
    path("accounts/", accounts.account, name="account"),
    path("accounts/two-factor/", accounts.two_factor_verify, name="two-factor-verify"),
    path("accounts/two-factor/setup/", accounts.two_factor_setup, name="two-factor-setup"),
    path("accounts/two-factor/remove/", accounts.two_factor_remove, name="two-factor-remove"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]

handler404 = "tracker.views.page_not_found"
