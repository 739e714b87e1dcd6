"""`make run` (scripts/serve.py): one command serves the app and runs background jobs; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from stack import free_port  # noqa: E402 - scripts/ is not a package


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_make_run_serves_pages_and_runs_jobs_and_ctrl_c_stops_both(tmp_path):
    database = tmp_path / "db.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update(DATABASE_URL=f"sqlite:///{database}", REDIS_URL="", MEDIA_ROOT=str(tmp_path / "media"))
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    serve = subprocess.Popen([sys.executable, "scripts/serve.py", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                             stdout=(tmp_path / "serve.log").open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    try:

        def healthy() -> bool:
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200
            except OSError:
                return False

        wait_for(healthy, 60, "the server")
        assert len(children_of(serve.pid)) == 2  # the server and the worker

        subprocess.run([sys.executable, "manage.py", "send_reminders"], cwd=ROOT, env=env, check=True,
                       capture_output=True)  # fmt: skip

        def job_status() -> str:
            with sqlite3.connect(database) as conn:
                return conn.execute("SELECT status FROM tracker_job").fetchone()[0]

        wait_for(lambda: job_status() == "succeeded", 60, "the worker to run the queued job")

        children = children_of(serve.pid)
        serve.send_signal(signal.SIGINT)
        assert serve.wait(timeout=40) == 0
        wait_for(lambda: not any(alive(pid) for pid in children), 10, "both processes to stop")
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
