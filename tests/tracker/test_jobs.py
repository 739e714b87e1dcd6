"""Background jobs (tracker/jobs.py, tracker/tasks.py): big XLSX exports and reminder digests done by a
worker, their status page and file (their owner only), failures, and never running a job twice."""

from __future__ import annotations

import datetime as dt
import io
import time
from io import StringIO
from unittest import mock

import openpyxl
import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tests.factories import (
    ActionPlanFactory,
    AdminFactory,
    InspectorFactory,
    ManagerFactory,
    StaffFactory,
    stored_files,
)
from tests.jobs import run_worker, worker_process
from tracker import jobs, tasks
from tracker.models import DigestLog, Job
from tracker.reports import EXPORT_HEADER

pytestmark = pytest.mark.django_db
LINK, ORGANISATION = EXPORT_HEADER.index("Link"), EXPORT_HEADER.index("Organisation")


@pytest.fixture(autouse=True)
def _small_threshold(settings):
    settings.EXPORT_IN_WORKER_ROWS = 3


def surrey_and_hampshire(org, other_org, surrey=5, hampshire=2):
    mine = ActionPlanFactory.create_batch(surrey, organisation=org, summary="Surrey response")
    theirs = ActionPlanFactory.create_batch(hampshire, organisation=other_org, summary="Hampshire response")
    return mine, theirs


def start_export(client, query: str = "") -> Job:
    page = client.get("/plans/export.xlsx" + (f"?{query}" if query else ""))
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    response = client.post("/jobs/export/", {"query": query})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    return job


def sheet_rows(data: bytes) -> list[tuple]:
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Action plans"]
    return list(sheet.iter_rows(min_row=2, values_only=True))


def downloaded(client, job: Job) -> bytes:
    response = client.get(f"/jobs/{job.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{job.file_name}"'
    assert response["Cache-Control"] == "private, no-store"
    return b"".join(response.streaming_content)


# Exports over the threshold -------------------------------------------------------------------------


def test_a_small_export_still_streams_at_once(client, staff, org, other_org):
    ActionPlanFactory.create_batch(3, organisation=org)
    client.force_login(staff)
    response = client.get("/plans/export.xlsx")
    assert response.streaming and response["Content-Type"].endswith("spreadsheetml.sheet")
    assert not Job.objects.exists()


def test_a_big_export_is_offered_as_a_job_and_a_get_writes_nothing(client, staff, org, other_org):
    surrey_and_hampshire(org, other_org)
    client.force_login(staff)
    page = client.get("/plans/export.xlsx?sort=-updated")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<strong>5</strong> action plans" in html  # Surrey's only
    assert 'name="query" value="sort=-updated"' in html
    assert not Job.objects.exists() and not DBTaskResult.objects.exists()


def test_a_big_export_is_made_by_the_worker_and_downloaded_by_its_owner(client, staff, org, other_org):
    mine, _ = surrey_and_hampshire(org, other_org)
    client.force_login(staff)
    job = start_export(client)

    assert job.user == staff and job.status == Job.Status.QUEUED and job.scope == f"organisation-{org.pk}"
    assert DBTaskResult.objects.get().id.hex == job.task_id.replace("-", "")
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Waiting for a worker" in page
    assert 'hx-trigger="every 1s"' in page  # polls while it is not finished
    assert "/download/" not in page

    run_worker()

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert job.message == "5 action plans exported."
    assert (job.done, job.total, job.attempts) == (5, 5, 1)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Finished. 5 action plans exported." in page
    assert f"/jobs/{job.pk}/download/" in page
    assert "hx-trigger" not in page  # done: no more polling
    assert 'aria-valuenow="100"' in page

    rows = sheet_rows(downloaded(client, job))
    assert sorted(row[LINK] for row in rows) == sorted(f"http://127.0.0.1:8000/plans/{p.pk}/" for p in mine)
    assert {row[ORGANISATION] for row in rows} == {org.name}


def test_the_file_holds_the_same_rows_as_the_streamed_export(client, settings, inspector, org, other_org):
    surrey_and_hampshire(org, other_org)
    client.force_login(inspector)
    settings.EXPORT_IN_WORKER_ROWS = 1000
    streamed = b"".join(client.get("/plans/export.xlsx?sort=-updated").streaming_content)
    settings.EXPORT_IN_WORKER_ROWS = 3
    job = start_export(client, "sort=-updated")
    run_worker()
    assert sheet_rows(downloaded(client, Job.objects.get(pk=job.pk))) == sheet_rows(streamed)


def test_filters_are_applied_by_the_worker(client, inspector, org, other_org):
    surrey_and_hampshire(org, other_org, surrey=4, hampshire=4)
    client.force_login(inspector)
    job = start_export(client, f"organisation={other_org.slug}")
    run_worker()
    rows = sheet_rows(downloaded(client, Job.objects.get(pk=job.pk)))
    assert len(rows) == 4 and {row[ORGANISATION] for row in rows} == {other_org.name}


@pytest.mark.parametrize("who", ["colleague", "manager", "other_org", "inspector", "admin"])
def test_a_job_answers_only_its_owner(client, staff, org, other_org, who):
    surrey_and_hampshire(org, other_org)
    client.force_login(staff)
    job = start_export(client)
    run_worker()
    others = {
        "colleague": lambda: StaffFactory(organisation=org),
        "manager": lambda: ManagerFactory(organisation=org),
        "other_org": lambda: StaffFactory(organisation=other_org),
        "inspector": InspectorFactory,
        "admin": AdminFactory,
    }
    client.force_login(others[who]())
    for path in (f"/jobs/{job.pk}/", f"/jobs/{job.pk}/download/"):
        assert client.get(path).status_code == 404
        assert client.get(path, headers={"HX-Request": "true"}).status_code == 404
    client.logout()
    assert client.get(f"/jobs/{job.pk}/download/")["Location"].startswith("/accounts/login/")


def test_the_status_fragment_polls_until_the_job_is_finished(client, staff, org, other_org):
    surrey_and_hampshire(org, other_org)
    client.force_login(staff)
    job = start_export(client)
    running = client.get(f"/jobs/{job.pk}/", headers={"HX-Request": "true"})
    assert running.status_code == 200
    fragment = running.content.decode()
    assert fragment.lstrip().startswith('<div id="job-progress"') and "<html" not in fragment
    assert 'hx-trigger="every 1s"' in fragment

    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, done=2, total=5)
    fragment = client.get(f"/jobs/{job.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert "Working on it: 2 of 5 done." in fragment
    assert 'aria-valuenow="40"' in fragment and "pct-40" in fragment

    Job.objects.filter(pk=job.pk).update(status=Job.Status.QUEUED, done=0, total=None)
    run_worker()
    finished = client.get(f"/jobs/{job.pk}/", headers={"HX-Request": "true"})
    assert finished.status_code == jobs.STOP_POLLING  # htmx stops polling and swaps this in
    assert "hx-trigger" not in finished.content.decode()


def test_progress_is_recorded_while_the_file_is_made(client, staff, org, monkeypatch):
    ActionPlanFactory.create_batch(1100, organisation=org)
    monkeypatch.setattr(jobs, "PROGRESS_INTERVAL", 0)
    seen: list[tuple[int, int | None]] = []
    record = jobs.Progress.__call__

    def watched(self, done, total=None):
        record(self, done, total)
        seen.append(Job.objects.values_list("done", "total").get(pk=self.job.pk))

    monkeypatch.setattr(jobs.Progress, "__call__", watched)
    client.force_login(staff)
    job = start_export(client)
    run_worker()
    assert seen == [(0, 1100), (500, 1100), (1000, 1100), (1100, 1100)]
    assert Job.objects.get(pk=job.pk).done == 1100


# Failures change nothing ------------------------------------------------------------------------------


def test_a_failed_export_says_why_and_leaves_no_file(client, staff, org, other_org):
    surrey_and_hampshire(org, other_org)
    client.force_login(staff)
    job = start_export(client)

    with mock.patch("tracker.reports.export_rows", side_effect=RuntimeError("database went away")):
        run_worker()

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.message.startswith("Something went wrong while doing this, so it was stopped and nothing was changed.")
    assert str(job.pk) in job.message and "database went away" not in job.message
    assert not job.file and stored_files("jobs") == []
    assert DBTaskResult.objects.get().status == "FAILED"  # and the worker kept the traceback for operators
    assert "database went away" in DBTaskResult.objects.get().traceback
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Failed: Something went wrong" in page and "/download/" not in page
    assert client.get(f"/jobs/{job.pk}/download/").status_code == 404


def test_a_file_stored_but_not_recorded_is_deleted(client, staff, org, other_org):
    surrey_and_hampshire(org, other_org)
    client.force_login(staff)
    job = start_export(client)
    with mock.patch("tracker.tasks.record_file", side_effect=RuntimeError("the database refused")):
        run_worker()
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and not job.file
    assert stored_files("jobs") == []


def test_an_export_whose_owner_moved_before_it_ran_is_not_made(client, staff, org, other_org):
    surrey_and_hampshire(org, other_org)
    client.force_login(staff)
    job = start_export(client)
    staff.organisation = other_org
    staff.save()

    run_worker()

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.message == (
        "What you may see changed after you asked for this export, so it was not made. Ask for it again."
    )
    assert stored_files("jobs") == []


def test_a_file_is_not_given_to_its_owner_once_they_may_see_other_plans(client, staff, org, other_org):
    surrey_and_hampshire(org, other_org)
    client.force_login(staff)
    job = start_export(client)
    run_worker()
    assert client.get(f"/jobs/{job.pk}/download/").status_code == 200

    staff.organisation = other_org
    staff.save()
    client.force_login(staff)
    assert client.get(f"/jobs/{job.pk}/download/").status_code == 404


def test_a_task_that_fails_before_its_job_starts_fails_the_job(client, staff, org, other_org):
    surrey_and_hampshire(org, other_org)
    client.force_login(staff)
    job = start_export(client)
    with mock.patch("tracker.jobs.run", side_effect=ImportError("no such module")):
        run_worker()
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.message.startswith("This job could not be run, so nothing was changed.")


def test_a_job_is_done_once_even_if_its_task_runs_again(client, staff, org, other_org):
    surrey_and_hampshire(org, other_org)
    client.force_login(staff)
    job = start_export(client)
    run_worker()
    job.refresh_from_db()
    first = (job.file.name, job.finished_at)

    assert tasks.export_plans_xlsx.call(str(job.pk)) == "not run again"

    job.refresh_from_db()
    assert (job.file.name, job.finished_at) == first
    assert job.attempts == 2  # counted, but the work was not done again
    assert len(stored_files("jobs")) == 1


def test_starting_a_job_writes_the_job_and_its_task_together(staff, org):
    with mock.patch("tracker.tasks.export_plans_xlsx") as task:
        task.enqueue.side_effect = RuntimeError("queue refused")
        with pytest.raises(RuntimeError, match="queue refused"):
            tasks.start_export(user=staff, query="")
    assert not Job.objects.exists()


def test_a_query_string_too_long_is_refused(client, staff, org):
    client.force_login(staff)
    response = client.post("/jobs/export/", {"query": "q=" + "x" * 5000})
    assert response.status_code == 400
    assert not Job.objects.exists()


# Reminder digests ----------------------------------------------------------------------------------


def days_from_today(n: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=n)


def test_send_reminders_queues_a_job_that_the_worker_sends(staff, org):
    nameless = StaffFactory(organisation=org, email="", username="no.address")
    ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(-1))
    ActionPlanFactory(organisation=org, owner=nameless, target_date=days_from_today(2))
    out = StringIO()

    call_command("send_reminders", stdout=out)

    job = Job.objects.get()
    assert f"Queued today's reminder digests as job {job.pk}" in out.getvalue()
    assert job.kind == Job.Kind.REMINDERS and job.user is None
    assert job.params == {"today": timezone.localdate().isoformat(), "days": 14}
    assert mail.outbox == []  # nothing is sent by the command itself

    run_worker()

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.message == "Sent 1, skipped (already sent today) 0, no email 1. No email address: no.address."
    assert [message.to for message in mail.outbox] == [[staff.email]]


def test_two_runs_on_one_day_send_one_digest_per_person(staff, manager, org):
    ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(-1))
    call_command("send_reminders", stdout=StringIO())
    call_command("send_reminders", stdout=StringIO())

    run_worker()

    first, second = Job.objects.order_by("created_at")
    assert first.message.startswith("Sent 2, skipped (already sent today) 0")  # staff and their manager
    assert second.message.startswith("Sent 0, skipped (already sent today) 2")
    assert len(mail.outbox) == 2
    assert DigestLog.objects.count() == 2


def test_a_reminder_run_that_cannot_send_fails_and_keeps_no_claim(staff, org):
    ActionPlanFactory(organisation=org, owner=staff, target_date=days_from_today(-1))
    call_command("send_reminders", stdout=StringIO())
    with mock.patch(
        "django.core.mail.backends.locmem.EmailBackend.send_messages", side_effect=OSError("mail server down")
    ):
        run_worker()
    job = Job.objects.get()
    assert job.status == Job.Status.FAILED
    assert "Could not send to" in job.message and staff.username in job.message
    assert not DigestLog.objects.exists()  # a later run today retries


def test_a_reminder_job_has_no_status_page(client, admin_user, staff, org):
    call_command("send_reminders", stdout=StringIO())
    client.force_login(admin_user)
    assert client.get(f"/jobs/{Job.objects.get().pk}/").status_code == 404


# Real worker processes (PostgreSQL) ----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_database_run_each_job_once():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: worker processes share the test database")
    workers = [worker_process(f"worker-{n}") for n in (1, 2)]
    try:
        for process in workers:  # both are polling before the first job is queued
            for line in process.stdout:
                if "Starting worker" in line:
                    break
        count = 60
        for _ in range(count):
            tasks.start_reminders(today=timezone.localdate(), days=14)
        deadline = time.monotonic() + 120
        while Job.objects.exclude(status__in=Job.FINISHED_STATUSES).exists():
            assert time.monotonic() < deadline, "the workers did not finish the jobs"
            assert all(process.poll() is None for process in workers), "a worker died"
            time.sleep(0.1)
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            process.wait(timeout=30)
        connection.close()

    assert Job.objects.filter(status=Job.Status.SUCCEEDED).count() == count
    assert set(Job.objects.values_list("attempts", flat=True)) == {1}
    runs = list(DBTaskResult.objects.values_list("worker_ids", flat=True))
    assert len(runs) == count and all(len(ids) == 1 for ids in runs)  # each task claimed by one worker once
    assert {ids[0] for ids in runs} == {"worker-1", "worker-2"}  # and both took part


def test_prune_jobs_deletes_old_finished_jobs_and_their_files(client, staff, org, other_org):
    surrey_and_hampshire(org, other_org)
    client.force_login(staff)
    old = start_export(client)
    run_worker()
    Job.objects.filter(pk=old.pk).update(finished_at=timezone.now() - dt.timedelta(days=8))
    client.post("/jobs/export/", {"query": ""})  # finished today: kept
    run_worker()
    waiting = tasks.start_export(user=staff, query="")
    assert len(stored_files("jobs")) == 2

    out = StringIO()
    call_command("prune_jobs", stdout=out)

    assert "Deleted 1 finished job(s) older than 7 day(s) and 1 file(s)." in out.getvalue()
    assert not Job.objects.filter(pk=old.pk).exists()
    assert Job.objects.count() == 2 and Job.objects.filter(pk=waiting.pk).exists()
    assert len(stored_files("jobs")) == 1
