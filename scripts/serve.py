"""`make run`: the development server and a background worker, started together and stopped together.

    python scripts/serve.py [ADDRESS]      (default 127.0.0.1:8000)

Starts `manage.py db_worker` (runs background jobs: big exports, reminder digests; docs/JOBS.md) and
`manage.py runserver ADDRESS`. Ctrl-C, SIGTERM or either one exiting stops the other, so no worker is
left running behind a closed terminal. Production runs the two separately (README: "Workers").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    address = argv[0] if argv else "127.0.0.1:8000"
    python = sys.executable
    # Each child in a process group of its own: Ctrl-C reaches this script, which stops both in order.
    worker = subprocess.Popen([python, "manage.py", "db_worker"], cwd=ROOT, start_new_session=True)
    server = subprocess.Popen([python, "manage.py", "runserver", address], cwd=ROOT, start_new_session=True)
    children = [server, worker]
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(f"Serving on http://{address}/ with a background worker; Ctrl-C stops both.", flush=True)
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)  # the worker finishes the job in hand, then exits
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
    failed = [child for child in children if child.returncode not in (0, -signal.SIGTERM, None)]
    return 1 if failed and not stopping else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
