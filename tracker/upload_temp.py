"""The folder where large uploads wait on disk while a request is read (FILE_UPLOAD_TEMP_DIR).

Django deletes each such file when its request ends. A worker killed mid-upload (gunicorn's time-out,
a restart, the machine running out of memory) never gets there, and its file would stay for good:
so each process, as it starts, makes sure the folder exists and removes files in it older than
UPLOAD_TEMP_MAX_AGE (an hour; an upload still being written is younger than that).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)


def reap(*, now: float | None = None) -> int:
    """Create the folder if need be and remove the files left in it by dead workers; how many."""
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = (time.time() if now is None else now) - settings.UPLOAD_TEMP_MAX_AGE
    removed = 0
    for path in folder.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another process starting at the same moment removed it
            continue
    if removed:
        log.warning("removed %d upload file(s) left by workers that stopped mid-upload", removed)
    return removed
