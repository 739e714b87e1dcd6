"""The storage servers (Azurite, s3rver) and the malware scanner (clamd) that tests run against, on 127.0.0.1.

`.ci/run` starts them once for the whole CI run (`python -m tests.servers ENV_FILE` writes their
addresses to ENV_FILE and keeps them running until it is stopped); the test fixtures use those
addresses when they are set, and otherwise start their own for the session on free ports. When a
server cannot be started, its tests skip on a developer's machine and fail under CI=true.

Azurite (Azure Blob Storage) and s3rver (an S3-compatible store) come from the npm registry
(package.json, `npm ci`) and run on Node.js; clamd comes from Debian's `clamav-daemon`. clamd is given
a signature database made here with one signature, for the EICAR test file: the public databases are
downloaded by freshclam, which production uses.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AZURITE = ROOT / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"
S3RVER = ROOT / "node_modules" / "s3rver" / "bin" / "s3rver.js"
# Azurite's well-known development account (published in Azurite's documentation; it guards nothing).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CLAMD_CANDIDATES = ("/usr/sbin/clamd", "/usr/bin/clamd")

# The EICAR anti-virus test file (eicar.org): harmless, and every scanner reports it as if it were a virus.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SIGNATURE = "Tracker.Test.EICAR"
EICAR_REPORTED = f"{EICAR_SIGNATURE}.UNOFFICIAL"  # clamd marks signatures from databases it does not know

AZURE_TEST_CONTAINER = "tests"  # private, like every container the app uses
AZURITE_ENV = "TEST_AZURITE_CONNECTION_STRING"
CLAMD_ENV = "TEST_CLAMAV_ADDRESS"
S3_ENV = "TEST_S3_ENDPOINT_URL"
S3_TEST_BUCKET = "tests"
S3_KEY = "S3RVER"  # s3rver's fixed access key and secret


class ServerUnavailable(Exception):
    """The server's program is not installed, or it did not start."""


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    workdir: Path
    address: str

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log(self) -> str:
        path = self.workdir / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(server: Server, ready: callable, timeout: float) -> Server:  # type: ignore[valid-type]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = server.log()
            server.stop()
            raise ServerUnavailable(f"it exited at start:\n{log}")
        try:
            if ready():
                return server
        except OSError:
            pass
        time.sleep(0.1)
    log = server.log()
    server.stop()
    raise ServerUnavailable(f"it did not answer within {timeout:.0f} s:\n{log}")


def _start(command: list[str], workdir: Path) -> subprocess.Popen[bytes]:
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 - the process keeps it
    return subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def azurite_connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )


def azure_storage(connection_string: str) -> dict[str, object]:
    """STORAGES["default"] on Azurite, under a folder of its own so that tests never see each other's files."""
    return {
        "BACKEND": "storages.backends.azure_storage.AzureStorage",
        "OPTIONS": {
            "connection_string": connection_string,
            "azure_container": AZURE_TEST_CONTAINER,
            "location": f"test-{uuid.uuid4().hex}",
            "overwrite_files": False,
        },
    }


def s3_storage(endpoint_url: str) -> dict[str, object]:
    """STORAGES["default"] on s3rver, under a folder of its own."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_TEST_BUCKET,
            "endpoint_url": endpoint_url,
            "region_name": "us-east-1",
            "access_key": S3_KEY,
            "secret_key": S3_KEY,
            "location": f"test-{uuid.uuid4().hex}",
            "default_acl": None,
            "file_overwrite": False,
        },
    }


def _start_node_server(script: Path, what: str, args: list[str], port: int, address: str, timeout: float) -> Server:
    """A server run by Node.js from node_modules, ready once its port accepts connections."""
    node = shutil.which("node")
    if node is None or not script.exists():
        raise ServerUnavailable(f"Node.js or {what} is missing: run `npm ci` in the project folder")
    workdir = Path(tempfile.mkdtemp(prefix=f"tracker-{what.lower()}-"))
    process = _start([node, str(script), *[arg.replace("{workdir}", str(workdir)) for arg in args]], workdir)

    def ready() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    return _wait(Server(process, workdir, address), ready, timeout)


def start_s3rver(timeout: float = 30) -> Server:
    """s3rver (an S3-compatible server) on a free port, keeping its files in a temporary folder."""
    port = free_port()
    args = ["--address", "127.0.0.1", "--port", str(port), "--directory", "{workdir}/data", "--silent"]
    return _start_node_server(S3RVER, "s3rver", args, port, f"http://127.0.0.1:{port}", timeout)


def start_azurite(timeout: float = 30) -> Server:
    """Azurite's blob service, in memory, on a free port; its address is a connection string."""
    port = free_port()
    # The pinned Azurite predates the newest storage API version that azure-storage-blob sends.
    args = ["--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence", "--disableTelemetry",
            "--silent", "--skipApiVersionCheck"]  # fmt: skip
    return _start_node_server(AZURITE, "Azurite", args, port, azurite_connection_string(port), timeout)


def clamd_config(workdir: Path, port: int) -> Path:
    """A clamd configuration on 127.0.0.1:port with the one-signature database."""
    database = workdir / "db"
    database.mkdir()
    # An extended (.ndb) signature: the EICAR string anywhere in any file (ClamAV's signature format docs).
    (database / "tracker-test.ndb").write_text(f"{EICAR_SIGNATURE}:0:*:{EICAR.hex()}\n")
    config = workdir / "clamd.conf"
    config.write_text(
        "\n".join(
            [
                "Foreground yes",
                f"DatabaseDirectory {database}",
                "TCPAddr 127.0.0.1",
                f"TCPSocket {port}",
                f"LogFile {workdir / 'clamd.log'}",
                # Larger than the largest evidence file (20 MB by default), as in production.
                "StreamMaxLength 30M",
                "MaxFileSize 30M",
                "MaxScanSize 100M",
                "SelfCheck 0",
            ]
        )
        + "\n"
    )
    return config


def clamd_ping(address: str) -> bool:
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        sock.sendall(b"zPING\0")
        return sock.recv(16).startswith(b"PONG")


def start_clamd(timeout: float = 60) -> Server:
    """clamd on a free port with the test signature database; its address is tcp://127.0.0.1:PORT."""
    clamd = next((path for path in CLAMD_CANDIDATES if os.access(path, os.X_OK)), shutil.which("clamd"))
    if clamd is None:
        raise ServerUnavailable("clamd is missing: apt-get install clamav-daemon")
    workdir = Path(tempfile.mkdtemp(prefix="tracker-clamd-"))
    port = free_port()
    config = clamd_config(workdir, port)
    process = _start([clamd, f"--config-file={config}"], workdir)
    address = f"tcp://127.0.0.1:{port}"
    return _wait(Server(process, workdir, address), lambda: clamd_ping(address), timeout)


def main() -> None:
    """Start every server, write their addresses to the file named, and run until SIGTERM or SIGINT."""
    env_file = Path(sys.argv[1])
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    running: dict[str, Server] = {}
    try:
        for env, start in ((AZURITE_ENV, start_azurite), (S3_ENV, start_s3rver), (CLAMD_ENV, start_clamd)):
            started = time.monotonic()
            running[env] = start()
            print(f"{start.__name__.removeprefix('start_')} ready in {time.monotonic() - started:.1f} s", flush=True)
        env_file.write_text("".join(f"{env}='{server.address}'\n" for env, server in running.items()))
        while not stopping and all(server.process.poll() is None for server in running.values()):
            time.sleep(0.5)
    finally:
        for server in running.values():
            server.stop()


if __name__ == "__main__":
    main()
