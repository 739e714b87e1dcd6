"""Stored files (settings.STORAGES["default"]: a local folder, Azure Blob Storage or an S3-compatible store).

`open_stored` opens a file for a download; `move_local_files` moves evidence from a local folder into
the configured store (`manage.py move_files_to_storage`). See docs/STORAGE.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from azure.core.exceptions import ResourceNotFoundError
from botocore.exceptions import ClientError
from django.core.files import File
from django.core.files.storage import Storage, default_storage, storages
from django.db.models.fields.files import FieldFile
from storages.backends.azure_storage import AzureStorage
from storages.backends.s3 import S3Storage

from .models import Evidence

CHUNK = 1024 * 1024


def is_missing(error: Exception) -> bool:
    """Whether a storage error means "no such file", whichever store raised it."""
    if isinstance(error, FileNotFoundError | ResourceNotFoundError):
        return True
    return isinstance(error, ClientError) and error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404


def open_stored(file: FieldFile) -> File:
    """The stored file, open for reading; FileNotFoundError if the store does not have it.

    Object stores open lazily and fetch the object at the first read, which for a download would be
    after the response has started: read nothing here so that a missing file is known first.
    """
    try:
        handle = file.open("rb")
        handle.read(0)
    except Exception as error:
        if is_missing(error):
            raise FileNotFoundError(file.name) from error
        raise
    return handle


def files_under(folder: str, storage: Storage | None = None) -> list[str]:
    """The names of every file below `folder`, as the storage's other methods take them, sorted.

    Azure's `listdir` (django-storages 1.14) returns every blob below the path with its full name and
    no folders (below the container's root, whatever the storage's `location`), where the others
    return the folder's own entries: one answer for all of them here. Object stores are listed flat,
    by prefix, in one paged request rather than a request per folder.
    """
    storage = storage or storages["default"]
    if isinstance(storage, AzureStorage | S3Storage):
        prefix = f"{storage.location.strip('/')}/" if storage.location else ""
        start = prefix + (f"{folder.strip('/')}/" if folder else "")
        if isinstance(storage, AzureStorage):
            names = (blob.name for blob in storage.client.list_blobs(name_starts_with=start, timeout=storage.timeout))
        else:
            names = (item.key for item in storage.bucket.objects.filter(Prefix=start))
        return sorted(name.removeprefix(prefix) for name in names)
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:
        return []
    names = [f"{folder}/{name}" if folder else name for name in files]
    for sub in folders:
        names += files_under(f"{folder}/{sub}" if folder else sub, storage)
    return sorted(names)


def storage_answers(timeout: float) -> bool:
    """Whether the default storage answers a question within `timeout` seconds (for the health check).

    Asked in a thread so that a store that hangs cannot hold the health check past its own time-out.
    """
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(storages["default"].exists, "healthz").result(timeout=timeout)
    except Exception:  # unreachable, refused, misconfigured or too slow: all mean "not answering"
        return False
    finally:
        pool.shutdown(wait=False)
    return True


def sha256_of(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def stored_sha256(storage: Storage, name: str) -> str | None:
    """The SHA-256 of what the store holds under `name`, or None if it holds nothing there."""
    try:
        with storage.open(name, "rb") as handle:
            return sha256_of(handle)
    except Exception as error:
        if is_missing(error):
            return None
        raise


@dataclass
class MoveReport:
    """What `move_local_files` did, file by file where something needs a person's attention."""

    total: int = 0
    copied: int = 0
    already_stored: int = 0
    local_deleted: int = 0
    missing: list[str] = field(default_factory=list)  # in neither place
    damaged_local: list[str] = field(default_factory=list)  # the local copy does not match its recorded hash
    conflicts: list[str] = field(default_factory=list)  # the store holds something else under that name
    failed_verification: list[str] = field(default_factory=list)  # copied, but read back different
    unreferenced: int = 0  # local evidence files no Evidence row names (left alone)

    @property
    def problems(self) -> int:
        return len(self.missing) + len(self.damaged_local) + len(self.conflicts) + len(self.failed_verification)


def move_local_files(
    *,
    source: Path,
    storage: Storage | None = None,
    delete_local: bool = False,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> MoveReport:
    """Copy every evidence file from the folder `source` into `storage` (the default storage) under the
    same name, and check the SHA-256 of what the store then holds against the one recorded at upload.

    Idempotent: a file the store already holds with the right hash is counted and left; one it holds
    with another hash is a conflict and is never overwritten. With `delete_local`, a local copy is
    removed only once the stored copy is verified. With `dry_run`, nothing is written or deleted.
    """
    storage = storage or default_storage
    report = MoveReport()
    root = source.resolve()
    names: set[str] = set()
    rows = Evidence.objects.order_by("pk").values_list("pk", "file", "sha256")
    report.total = rows.count()
    for done, (pk, name, sha256) in enumerate(rows.iterator(chunk_size=500), start=1):
        names.add(name)
        label = f"evidence {pk} ({name})"
        local = (root / name).resolve()
        if not local.is_relative_to(root):  # a name from the database never leaves the folder
            report.missing.append(label)
            continue
        held = stored_sha256(storage, name)
        if held == sha256:
            report.already_stored += 1
            if delete_local and not dry_run and local.is_file() and _file_sha256(local) == sha256:
                local.unlink()
                report.local_deleted += 1
        elif held is not None:
            report.conflicts.append(label)
        elif not local.is_file():
            report.missing.append(label)
        elif _file_sha256(local) != sha256:
            report.damaged_local.append(label)
        elif dry_run:
            report.copied += 1
        else:
            _copy(storage, local, name, sha256, label, report, delete_local)
        if progress:
            progress(done, report.total)
    folder = root / "evidence"
    if folder.is_dir():
        report.unreferenced = sum(
            1 for path in folder.rglob("*") if path.is_file() and path.relative_to(root).as_posix() not in names
        )
    return report


def _file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return sha256_of(handle)


def _copy(storage: Storage, local: Path, name: str, sha256: str, label: str, report: MoveReport,
          delete_local: bool) -> None:  # fmt: skip
    with local.open("rb") as handle:
        saved = storage.save(name, File(handle, name=name))
    if saved != name:  # the store picked another name: the row would not find it
        storage.delete(saved)
        report.conflicts.append(label)
        return
    if stored_sha256(storage, name) != sha256:
        storage.delete(name)
        report.failed_verification.append(label)
        return
    report.copied += 1
    if delete_local:
        local.unlink()
        report.local_deleted += 1
