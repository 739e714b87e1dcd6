"""Web imports in the worker: the check for the preview and the import itself are jobs of their
uploader's, shown with a progress bar; a failed import says why and changes nothing; a job runs once."""

from __future__ import annotations

import pytest
from django.db import connections

from inspections.models import Finding, Inspection
from tests.factories import AdminFactory, OrganisationFactory
from tests.jobs import run_worker
from tests.tracker import import_web
from tracker import jobs
from tracker.imports import tasks
from tracker.models import Job

# "__all__": on PostgreSQL the import job writes its progress through a second connection.
pytestmark = pytest.mark.django_db(databases="__all__")

HEADER = "inspection,inspection_slug,published_on,reference,kind,text,addressed_to\n"


def csv_file(count: int, organisation: str = "surrey") -> bytes:
    lines = [f"Jobs 2026,jobs-2026,2026-03-01,R{n},recommendation,Finding {n} to act on.,{organisation}\n"
             for n in range(1, count + 1)]  # fmt: skip
    return (HEADER + "".join(lines)).encode()


@pytest.fixture
def surrey(db):
    return OrganisationFactory(slug="surrey", name="Surrey Police")


def test_the_preview_waits_for_the_check_with_a_progress_bar_then_shows_the_rows(client, admin_user, surrey):
    client.force_login(admin_user)
    response = client.post("/imports/", {"file": import_web.SimpleUploadedFile("f.csv", csv_file(3))})
    preview = response["Location"]
    waiting = client.get(preview).content.decode()
    job = Job.objects.get(kind=Job.Kind.IMPORT_CHECK)
    assert "Checking f.csv" in waiting and f'hx-get="/jobs/{job.pk}/"' in waiting and 'role="progressbar"' in waiting
    assert "<script>" not in waiting and "style=" not in waiting
    run_worker()
    job.refresh_from_db()
    assert (job.status, job.attempts, job.user) == (Job.Status.SUCCEEDED, 1, admin_user)
    assert job.message == "Checked 3 rows: ready to import."
    polled = client.get(job.get_absolute_url(), headers={"HX-Request": "true"})
    assert polled.status_code == jobs.STOP_POLLING and polled["HX-Redirect"] == preview
    shown = client.get(preview).content.decode()
    assert "3</strong> findings to create" in shown and "Import 3 rows" in shown
    assert not Finding.objects.exists()


def test_importing_runs_once_in_the_worker_and_shows_the_results(client, admin_user, surrey):
    client.force_login(admin_user)
    preview = import_web.upload(client, "f.csv", csv_file(5))
    first = client.post(f"{preview}confirm/")
    again = client.post(f"{preview}confirm/")  # a second click while the first is waiting
    assert first["Location"] == again["Location"]
    assert Job.objects.filter(kind=Job.Kind.IMPORT_APPLY).count() == 1
    assert not Finding.objects.exists()  # nothing written by the request
    run_worker()
    job = Job.objects.get(kind=Job.Kind.IMPORT_APPLY)
    assert (job.status, job.attempts) == (Job.Status.SUCCEEDED, 1)
    assert job.total and job.done == job.total and job.percent == 100
    done = client.get(first["Location"], follow=True)
    assert done.redirect_chain[-1][0] == "/imports/done/"
    body = done.content.decode()
    assert "Imported f.csv." in body and "Findings: 5 created, 0 updated, 0 unchanged." in body
    assert Finding.objects.count() == 5
    assert client.post(f"{preview}confirm/").status_code == 404  # the upload is gone once imported
    assert jobs.run(str(job.pk), lambda job, progress: "again") == "not run again"
    assert Finding.objects.count() == 5


def test_a_failed_import_says_why_changes_nothing_and_lists_the_new_errors(client, admin_user, surrey):
    """Between the check and the import the database moves on: an addressee is renamed away. The job
    fails, nothing is written, and the preview now lists the error."""
    client.force_login(admin_user)
    preview = import_web.upload(client, "f.csv", csv_file(4))
    surrey.slug, surrey.name = "surrey-police", "Surrey Constabulary"
    surrey.save()
    failed = import_web.confirm(client, preview)
    job = Job.objects.get(kind=Job.Kind.IMPORT_APPLY)
    assert job.status == Job.Status.FAILED and "Nothing was imported" in job.message
    body = failed.content.decode()
    assert "Failed: Nothing was imported" in body and f'href="{preview}"' in body
    assert not Finding.objects.exists() and not Inspection.objects.exists()
    listed = client.get(preview).content.decode()
    assert "The file has 4 errors" in listed and "unknown organisation" in listed


def test_a_failure_in_the_worker_rolls_the_import_back(client, admin_user, surrey, monkeypatch):
    client.force_login(admin_user)
    preview = import_web.upload(client, "f.csv", csv_file(3), publish="on")

    def publish_fails(**kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr("tracker.imports.applying.publish_inspection", publish_fails)
    failed = import_web.confirm(client, preview)
    assert "Failed: Something went wrong" in failed.content.decode()
    job = Job.objects.get(kind=Job.Kind.IMPORT_APPLY)
    assert job.status == Job.Status.FAILED and "nothing was changed" in job.message
    assert not Finding.objects.exists() and not Inspection.objects.exists()


def test_import_jobs_and_results_answer_only_their_owner(client, admin_user, surrey):
    client.force_login(admin_user)
    preview = import_web.upload(client, "f.csv", csv_file(2))
    import_web.confirm(client, preview)
    job = Job.objects.get(kind=Job.Kind.IMPORT_APPLY)
    check = Job.objects.get(kind=Job.Kind.IMPORT_CHECK)
    other = AdminFactory()
    client.force_login(other)
    assert client.get(job.get_absolute_url()).status_code == 404
    assert client.get(check.get_absolute_url()).status_code == 404
    assert client.get(f"/imports/done/?job={job.pk}").status_code == 404
    assert client.get("/imports/done/?job=123").status_code == 400
    assert client.get(preview).status_code == 404  # the upload is the uploader's session's


def test_the_progress_names_each_step_and_only_moves_forward(client, admin_user, surrey, monkeypatch):
    recorded = []
    call = jobs.Progress.__call__

    def watched(self, done, total=None, stage=None):
        recorded.append((self.job.kind, done, total, stage))
        return call(self, done, total, stage)

    monkeypatch.setattr(jobs.Progress, "__call__", watched)
    monkeypatch.setattr(jobs, "PROGRESS_INTERVAL", 0)
    monkeypatch.setattr("tracker.imports.progress.PROGRESS_EVERY", 1)
    client.force_login(admin_user)
    import_web.confirm(client, import_web.upload(client, "f.csv", csv_file(4)))
    check = [(done, total, stage) for kind, done, total, stage in recorded if kind == Job.Kind.IMPORT_CHECK]
    assert [stage for *_, stage in check[:2]] == ["Reading the file", "Reading the rows"]
    assert check[-1] == (8, 8, "Checking every row")
    steps = [done for done, _total, _stage in check]
    assert steps == sorted(steps)
    apply = [(done, total, stage) for kind, done, total, stage in recorded if kind == Job.Kind.IMPORT_APPLY]
    if connections["default"].vendor == "postgresql":
        assert apply[-6:-4] == [(12, 16, "Writing the findings"), (12, 16, tasks.FINISHING)]
        assert [done for done, *_ in apply] == sorted(done for done, *_ in apply)
    else:  # one writer at a time: the import's progress shows when it commits
        assert apply[-5][2] == "Checking and writing in one go (the bar moves when it is done)"
    # Then, once the import is committed, the suggested links: a text search for each of the 4 findings.
    assert apply[-4:] == [(done, 16, tasks.SUGGESTING) for done in (13, 14, 15, 16)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, databases="__all__")
def test_on_postgresql_the_progress_inside_the_import_is_seen_by_others_at_once(client, surrey, monkeypatch):
    """The import is one transaction; its progress goes through the second connection, so another
    connection sees it while the transaction is still open (and it survives the rollback)."""
    if connections["default"].vendor != "postgresql":
        pytest.skip("SQLite has no second connection")
    admin = AdminFactory()
    seen = []
    call = jobs.Progress.__call__

    def watched(self, done, total=None, stage=None):
        call(self, done, total, stage)
        if stage == "Writing the findings" and connections["default"].in_atomic_block:
            observer = connections.create_connection("default")
            try:
                with observer.cursor() as cursor:
                    cursor.execute("SELECT done, stage FROM tracker_job WHERE id = %s", [self.job.pk])
                    seen.append(cursor.fetchone())
            finally:
                observer.close()

    monkeypatch.setattr(jobs.Progress, "__call__", watched)
    monkeypatch.setattr(jobs, "PROGRESS_INTERVAL", 0)
    client.force_login(admin)
    import_web.confirm(client, import_web.upload(client, "f.csv", csv_file(3)))
    assert seen and seen[-1] == (9, "Writing the findings")  # of 12: history and plans follow
    assert Finding.objects.count() == 3


def test_polling_a_jobs_progress_neither_keeps_the_session_alive_nor_writes_it(client, admin_user, settings):
    from tracker.middleware import REFRESHED_KEY

    settings.SESSION_REFRESH_SECONDS = 0  # every request that counts pushes the session on
    client.force_login(admin_user)
    job = Job.objects.create(kind=Job.Kind.IMPORT_CHECK, user=admin_user)
    client.get("/")
    session = client.session
    session[REFRESHED_KEY] = 1
    session.save()
    polled = client.get(job.get_absolute_url(), headers={"HX-Request": "true", "HX-Trigger": "job-progress"})
    assert polled.status_code == 200 and client.session[REFRESHED_KEY] == 1
    client.get(job.get_absolute_url())  # the page itself, opened by its owner, counts
    assert client.session[REFRESHED_KEY] > 1


# --- the preview's query parameters, through a form ----------------------------------------------


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("show=nonsense", "show"),
        ("page=abc", "page"),
        ("page=0", "page"),
        ("page=-3", "page"),
        ("page=1e309", "page"),
        ("show=create&page=x", "page"),
    ],
)
def test_a_preview_parameter_that_means_nothing_is_400_naming_it(client, admin_user, surrey, query, named):
    client.force_login(admin_user)
    preview = import_web.upload(client, "f.csv", csv_file(3))
    response = client.get(f"{preview}?{query}")
    assert response.status_code == 400
    errors = dict(response.context["errors"])
    assert list(errors) == [named] and errors[named]
    assert not Finding.objects.exists()


def test_the_preview_shows_the_rows_and_page_its_valid_parameters_ask_for(client, admin_user, surrey):
    client.force_login(admin_user)
    preview = import_web.upload(client, "f.csv", csv_file(150))
    created = client.get(f"{preview}?show=create&page=2")
    assert created.status_code == 200
    assert created.context["show"] == "create" and created.context["page"].number == 2
    assert [row.row for row in created.context["page"]] == list(range(102, 152))  # rows 2-151 of the file
    past_the_end = client.get(f"{preview}?page=9")
    assert past_the_end.status_code == 200 and past_the_end.context["page"].number == 2  # the last page
    assert client.get(preview).context["show"] == "all"
