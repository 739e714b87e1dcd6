"""A throwaway copy of the application for the load check and the security scanners.

`Stack` creates a PostgreSQL database, migrates it, loads the demo, collects static files and starts
gunicorn instances on loopback ports with production settings (DEBUG off, a random SECRET_KEY), and
always stops them and drops the database on the way out, even after a failure or Ctrl-C.
`Browser` is a small HTTP client that signs in and keeps its own cookies: the production cookies are
marked Secure, which a standard cookie jar would refuse to send back over plain HTTP on loopback.

Only the standard library and psycopg (already a runtime requirement) are used.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/tracker_loadcheck"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ports_from(text: str, count: int) -> list[int]:
    """`auto` picks free ports; otherwise a comma-separated list such as `8121,8122`."""
    if text == "auto":
        return [free_port() for _ in range(count)]
    ports = [int(port) for port in text.split(",")]
    if len(ports) != count:
        raise SystemExit(f"Give {count} port(s), not {text!r}.")
    return ports


class Stopped(Exception):
    """SIGTERM arrived: unwind so that the servers are stopped and the database dropped."""


@dataclass
class Stack:
    database_url: str
    ports: list[int]
    workers: int = 2
    threads: int = 4
    keep_database: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    password: str = field(default_factory=lambda: "load-" + secrets.token_urlsafe(12))
    # One key for every server: sessions and CSRF tokens signed by one must be valid on the other.
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tracker-stack-")))

    @property
    def database_name(self) -> str:
        return urlsplit(self.database_url).path.lstrip("/")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
        env.update(
            DEBUG="0",
            SECRET_KEY=self.secret_key,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            DATABASE_URL=self.database_url,
            SECURE_SSL_REDIRECT="0",  # plain HTTP on loopback; in production a proxy terminates TLS
            TWO_FACTOR_REQUIRED_ROLES="",  # scripted clients have no authenticator app
            MEDIA_ROOT=str(self.workdir / "media"),
            DEMO_PASSWORD=self.password,
            REDIS_URL="",
        )
        env.update(self.extra_env)
        return env

    def base_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    # --- life cycle --------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        previous = signal.getsignal(signal.SIGTERM)
        self._previous_sigterm = previous
        signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            self.create_database()
            self.manage("migrate", "--noinput", "-v0")
            self.manage("seed_demo")
            self.manage("collectstatic", "--noinput", "-v0")
            for port in self.ports:
                self.start_server(port)
            for url in self.base_urls():
                self.wait_until_healthy(url)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_servers()
        if not self.keep_database:
            self.drop_database()
        signal.signal(signal.SIGTERM, self._previous_sigterm)

    def _on_sigterm(self, signum: int, frame: object) -> None:
        raise Stopped

    def admin_connection(self) -> psycopg.Connection:
        parts = urlsplit(self.database_url)
        return psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True)

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.database_url, autocommit=True)

    def create_database(self) -> None:
        name = self.database_name
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise SystemExit(f"Refusing an unusual database name: {name!r}")
        with self.admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')

    def drop_database(self) -> None:
        try:
            with self.admin_connection() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
        except psycopg.Error as error:  # never hide the real failure behind a clean-up one
            print(f"warning: could not drop {self.database_name}: {error}", file=sys.stderr)

    def manage(self, *args: str) -> str:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env(), check=True,
                              stdout=subprocess.PIPE, text=True).stdout  # fmt: skip

    def start_server(self, port: int) -> None:
        log = open(self.workdir / f"gunicorn-{port}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "tracker.wsgi",
                "--bind", f"127.0.0.1:{port}",
                "--workers", str(self.workers), "--threads", str(self.threads), "--worker-class", "gthread",
                "--timeout", "60", "--graceful-timeout", "5",
            ],
            cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.processes.append(process)

    def wait_until_healthy(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"gunicorn exited early:\n{self.logs()}")
            try:
                if Browser(url).get("/healthz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{url} did not become healthy in {timeout:.0f}s:\n{self.logs()}")

    def stop_servers(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self.processes.clear()

    def logs(self, lines: int = 40) -> str:
        out = []
        for path in sorted(self.workdir.glob("gunicorn-*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)


def multipart(boundary: str, fields: dict[str, object], files: dict[str, tuple[str, bytes]]) -> bytes:
    """A multipart/form-data body, as a browser sends a form with a file input."""
    out = b""
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for name, (filename, content) in files.items():
        out += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    return out + f"--{boundary}--\r\n".encode()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str
    seconds: float
    content: bytes = b""


class Browser:
    """One person's browser: cookies, CSRF token and sign-in, over plain HTTP/1.1."""

    def __init__(self, base_url: str, timeout: float = 60) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.csrf_token = ""

    def request(self, method: str, path: str, data: dict[str, object] | None = None,
                base_url: str | None = None, files: dict[str, tuple[str, bytes]] | None = None) -> Reply:  # fmt: skip
        """`files` maps a field name to (file name, content) and sends the form as multipart/form-data."""
        parts = urlsplit(base_url or self.base_url)
        headers = {"Host": parts.netloc, "User-Agent": "tracker-loadcheck"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body: str | bytes | None = None
        if files:
            boundary = "----tracker" + secrets.token_hex(12)
            body = multipart(boundary, data or {}, files)
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif data is not None:
            body = urlencode(data, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            content = response.read()
            reply_headers = {k.lower(): v for k, v in response.getheaders()}
            for value in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(value).items():
                    if morsel["max-age"] == "0":
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
        finally:
            conn.close()
        text = content.decode("utf-8", "replace")
        match = CSRF_FIELD.search(text)
        if match:
            self.csrf_token = match.group(1)
        return Reply(response.status, reply_headers, text, time.perf_counter() - started, content)

    def get(self, path: str, base_url: str | None = None) -> Reply:
        return self.request("GET", path, base_url=base_url)

    def post(self, path: str, data: dict[str, object], base_url: str | None = None,
             files: dict[str, tuple[str, bytes]] | None = None) -> Reply:  # fmt: skip
        return self.request("POST", path, {"csrfmiddlewaretoken": self.csrf_token, **data}, base_url, files)

    def log_in(self, username: str, password: str) -> None:
        self.get("/accounts/login/")
        reply = self.post("/accounts/login/", {"username": username, "password": password})
        if reply.status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"{username} could not sign in: {reply.status}")
        self.get("/")  # a page with a form, for a CSRF token bound to the new session
