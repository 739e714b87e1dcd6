"""`/api/v1/` (the REST API), `/api/schema/` (OpenAPI 3) and `/api/docs/` (Swagger UI)."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from . import views


class Router(DefaultRouter):
    include_format_suffixes = False  # one URL per resource; JSON is the only format


router = Router(use_regex_path=False)
router.register("organisations", views.OrganisationViewSet, basename="organisation")
router.register("inspections", views.InspectionViewSet, basename="inspection")
router.register("findings", views.FindingViewSet, basename="finding")
router.register("plans", views.PlanViewSet, basename="plan")
router.register("evidence", views.EvidenceViewSet, basename="evidence")

app_name = "api"
urlpatterns = [
    path("v1/search/", views.SearchView.as_view(), name="search"),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", views.ApiDocsView.as_view(), name="docs"),
    re_path(r"^", views.not_found),
]
