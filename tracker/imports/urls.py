"""Web import of findings (administrators only), included at /imports/."""

from django.urls import path

from . import views

app_name = "imports"
urlpatterns = [
    path("", views.import_upload, name="import-upload"),
    path("template.csv", views.template_csv, name="template-csv"),
    path("template.xlsx", views.template_xlsx, name="template-xlsx"),
    path("done/", views.import_done, name="import-done"),
    path("<slug:token>/", views.import_preview, name="import-preview"),
    path("<slug:token>/confirm/", views.import_confirm, name="import-confirm"),
    path("<slug:token>/cancel/", views.import_cancel, name="import-cancel"),
]
