"""Security scanners against a throwaway copy of the application: wapiti and sqlmap.

Starts the application on a throwaway PostgreSQL database (demo loaded, production settings, served by
gunicorn on a loopback port), signs in as a force manager, then runs:

- wapiti (modules sql, xss, permanentxss, csrf, crlf, redirect, exec, file), authenticated as the
  manager, crawling everything the manager can reach (sign-out and the two-factor removal excluded so
  the session survives the crawl); then again on the REST API, from its OpenAPI schema, with an API
  token of the same manager;
- sqlmap on every filter parameter of `/plans/`, on the progress form of a plan (a POST with a CSRF
  token refreshed from the plan page), and on the sign-in form.

Every finding (a wapiti vulnerability or anomaly such as a server error, or an injection point sqlmap
identifies) is printed and counted; the exit status is non-zero if there is any. Each tool runs under a
time limit. The tools come from their own virtualenv (`make scan` builds `.venv-scan` from
requirements-scan.txt), so their dependencies never mix with the application's.

    .venv/bin/python scripts/scan.py --port 8123 --database-url postgres://postgres@127.0.0.1:5432/tracker_scan
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stack import ROOT, Browser, Stack, ports_from

MANAGER = "hampshire.manager"
PARTS = ("wapiti", "wapiti-api", "sqlmap-filters", "sqlmap-forms")
WAPITI_MODULES = "sql,xss,permanentxss,csrf,crlf,redirect,exec,file"
PLAN_FILTERS = {
    "organisation": "hampshire", "inspection": "south-east-soc-2024", "kind": "recommendation",
    "status": "in_progress", "theme": "intelligence", "owner": "me", "rag": "red", "overdue": "1",
    "deferred": "1", "q": "analyst", "sort": "target_date",
}  # fmt: skip


RUNNING: set[subprocess.Popen[bytes]] = set()


def stop_tools() -> None:
    for process in list(RUNNING):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def run(command: list[str], log: Path, limit: float) -> tuple[int | None, float]:
    """Run a tool with its output to `log`; stop it (and say so) if it outlives `limit` seconds."""
    started = time.monotonic()
    with log.open("w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)  # fmt: skip
        RUNNING.add(process)
        try:
            code: int | None = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            code = None
        finally:
            RUNNING.discard(process)
    return code, time.monotonic() - started


def wapiti(tools: Path, base: str, auth: list[str], out: Path, limit: float, name: str = "wapiti",
           modules: str = WAPITI_MODULES, extra: tuple[str, ...] = ()) -> dict[str, object]:  # fmt: skip
    report = out / f"{name}.json"
    command = [
        str(tools / "wapiti"), "-u", f"{base}/", "--scope", "folder", "-m", modules, *auth, *extra,
        "-x", f"{base}/accounts/logout/", "-x", f"{base}/accounts/two-factor/remove/",
        "--max-scan-time", str(int(limit)), "--max-attack-time", str(int(limit / 9)),
        "--max-links-per-page", "40", "-d", "6", "--tasks", "4", "--timeout", "30",
        "--flush-session", "--store-session", str(out / f"{name}-session"),
        "--store-config", str(out / f"{name}-config"),
        "--no-bugreport", "-f", "json", "-o", str(report), "-v", "1",
    ]  # fmt: skip
    code, seconds = run(command, out / f"{name}.log", limit)
    result: dict[str, object] = {"command": " ".join(command), "exit": code, "seconds": round(seconds)}
    if not report.exists():
        result["error"] = "no report written"
        return result
    data = json.loads(report.read_text())
    findings = []
    for section in ("vulnerabilities", "anomalies"):
        for kind, items in (data.get(section) or {}).items():
            for item in items:
                findings.append({"section": section, "name": kind, "path": item.get("path"),
                                 "method": item.get("method"), "parameter": item.get("parameter"),
                                 "info": item.get("info")})  # fmt: skip
    crawled = re.findall(r"\[\+\] (?:GET|POST|PUT|PATCH|DELETE)", (out / f"{name}.log").read_text(errors="replace"))
    result.update(findings=findings, attack_requests=len(crawled), infos=data.get("infos", {}))
    return result


def sqlmap(tools: Path, name: str, args: list[str], out: Path, limit: float) -> dict[str, object]:
    # The forms' CSRF token is sent as it is: Django accepts the same token for the whole session, so
    # every request passes the CSRF check and reaches the form (sqlmap's token refresh is not needed).
    command = [
        str(tools / "sqlmap"), *args, "--batch", "--disable-coloring", "--flush-session",
        "--output-dir", str(out / "sqlmap"), "--dbms", "PostgreSQL", "--level", "2", "--risk", "1",
        "--threads", "2", "--timeout", "30", "--retries", "1",
        "--text-only",  # pages carry a masked CSRF token that differs on every request
    ]  # fmt: skip
    log = out / f"sqlmap-{name}.log"
    code, seconds = run(command, log, limit)
    text = log.read_text(errors="replace")
    findings = re.findall(r"^Parameter: (.+)$", text, re.MULTILINE)
    tested = sorted(set(re.findall(r"testing for SQL injection on (?:GET|POST) parameter '([^']+)'", text)))
    result: dict[str, object] = {
        "command": " ".join(command), "exit": code, "seconds": round(seconds), "findings": findings,
        "parameters_tested": tested,
        "verdict": "not injectable" if "do not appear to be injectable" in text else
        ("INJECTABLE" if findings else ("stopped at the time limit" if code is None else "see log")),
    }  # fmt: skip
    if result["verdict"] not in ("not injectable", "INJECTABLE"):
        result["error"] = f"incomplete: {result['verdict']} ({log})"
    return result


def sqlmap_runs(tools: Path, base: str, browser: Browser, cookie: str, plan: int, out: Path,
                limit: float, parts: set[str]) -> dict[str, object]:  # fmt: skip
    results: dict[str, object] = {}
    query = "&".join(f"{k}={v}" for k, v in PLAN_FILTERS.items())
    if "sqlmap-filters" in parts:
        print("sqlmap: /plans/ filters ...", flush=True)
        results["sqlmap_plan_filters"] = sqlmap(
            tools, "plan-filters",
            ["-u", f"{base}/plans/?{query}", "--cookie", cookie, "-p", ",".join(PLAN_FILTERS)], out, limit,
        )  # fmt: skip
    if "sqlmap-forms" not in parts:
        return results
    print("sqlmap: progress form ...", flush=True)
    browser.get(f"/plans/{plan}/")
    results["sqlmap_progress_form"] = sqlmap(
        tools, "progress-form",
        ["-u", f"{base}/plans/{plan}/progress/", "--method", "POST", "--cookie", cookie,
         "--data", f"csrfmiddlewaretoken={browser.csrf_token}&progress-note=Scan&progress-percent_complete=40"
         "&progress-version=1",
         "-p", "progress-note,progress-percent_complete,progress-version"],
        out, limit,
    )  # fmt: skip
    print("sqlmap: sign-in form ...", flush=True)
    anonymous = Browser(base)
    anonymous.get("/accounts/login/")
    results["sqlmap_login_form"] = sqlmap(
        tools, "login-form",
        ["-u", f"{base}/accounts/login/", "--method", "POST",
         "--cookie", f"csrftoken={anonymous.cookies['csrftoken']}",
         "--data", f"csrfmiddlewaretoken={anonymous.csrf_token}&username={MANAGER}&password=wrong",
         "-p", "username,password"],
        out, limit,
    )  # fmt: skip
    return results


def wapiti_runs(tools: Path, base: str, cookie: str, token: str, out: Path, limit: float,
                parts: set[str]) -> dict[str, object]:  # fmt: skip
    results: dict[str, object] = {}
    if "wapiti" in parts:
        print("wapiti: pages, as a signed-in manager ...", flush=True)
        # (not with --drop-set-cookie: wapiti 3.3.2 then drops this cookie too)
        results["wapiti"] = wapiti(tools, base, ["-C", cookie], out, limit)
    if "wapiti-api" in parts:
        print("wapiti: the API, from its OpenAPI schema, with a manager's token ...", flush=True)
        # Not the csrf module: a request carrying a token sends no cookie, so there is nothing to forge;
        # session-authenticated API calls are CSRF-checked (tests/tracker/test_api.py).
        api_modules = ",".join(m for m in WAPITI_MODULES.split(",") if m != "csrf")
        results["wapiti_api"] = wapiti(tools, base, ["-H", f"Authorization: Token {token}"], out, limit / 2,
                                       name="wapiti-api", modules=api_modules,
                                       extra=("--swagger", str(out / "schema.json")))  # fmt: skip
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", default="auto")
    parser.add_argument("--database-url", default=os.environ.get(
        "SCAN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tracker_scan"))  # fmt: skip
    parser.add_argument("--tools", default=str(ROOT / ".venv-scan" / "bin"), help="folder with wapiti and sqlmap")
    parser.add_argument("--out", default=str(ROOT / "scan-results"), help="reports and logs go here")
    parser.add_argument("--wapiti-minutes", type=float, default=30, help="whole wapiti run, crawl included")
    parser.add_argument("--sqlmap-minutes", type=float, default=15, help="limit for each of the three sqlmap runs")
    parser.add_argument("--only", help=f"comma-separated parts to run (default all): {','.join(PARTS)}")
    args = parser.parse_args()
    parts = set(args.only.split(",")) if args.only else set(PARTS)
    if parts - set(PARTS):
        raise SystemExit(f"Unknown parts: {parts - set(PARTS)}; choose from {PARTS}")
    tools, out = Path(args.tools), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for tool in ("wapiti", "sqlmap"):
        if not (tools / tool).exists():
            raise SystemExit(f"{tools / tool} not found: run `make scan` (it builds .venv-scan).")

    # The scanners send thousands of wrong values; lock-out would only hide what the form does with them.
    stack = Stack(args.database_url, ports_from(args.port, 1), extra_env={"AXES_FAILURE_LIMIT": "1000000"})
    results: dict[str, object] = {}
    print(f"Setting up {stack.database_name} on port {stack.ports[0]} ...", flush=True)
    with stack:
        base = stack.base_urls()[0]
        browser = Browser(base)
        browser.log_in(MANAGER, stack.password)
        cookie = f"sessionid={browser.cookies['sessionid']}; csrftoken={browser.cookies['csrftoken']}"
        with stack.connect() as conn:
            plan = conn.execute(
                "SELECT p.id FROM tracker_actionplan p JOIN inspections_organisation o ON o.id = p.organisation_id"
                " WHERE o.slug = 'hampshire' AND p.status = 'in_progress' ORDER BY p.id LIMIT 1"
            ).fetchone()[0]
        # The API is scanned from its OpenAPI schema with a token, as systems use it.
        token = stack.manage("shell", "-c", (
            "from tracker.models import ApiToken, User; "
            f"print(ApiToken.issue(user=User.objects.get(username='{MANAGER}'), name='scan')[1])"
        )).strip().splitlines()[-1]  # fmt: skip
        (out / "schema.json").write_text(browser.get("/api/schema/?format=json").body)
        # wapiti and the sqlmap runs go side by side: each mostly waits on the server.
        with ThreadPoolExecutor(max_workers=2) as pool:
            try:
                jobs = {}
                if {"wapiti", "wapiti-api"} & parts:
                    jobs["wapiti"] = pool.submit(wapiti_runs, tools, base, cookie, token, out,
                                                 args.wapiti_minutes * 60, parts)  # fmt: skip
                if {"sqlmap-filters", "sqlmap-forms"} & parts:
                    jobs["sqlmap"] = pool.submit(sqlmap_runs, tools, base, browser, cookie, plan, out,
                                                 args.sqlmap_minutes * 60, parts)  # fmt: skip
                for job in jobs.values():
                    results.update(job.result())
            except BaseException:  # Ctrl-C or SIGTERM: the tools must not outlive us
                stop_tools()
                raise
        server_log = stack.logs(lines=100000)

    (out / "server.log").write_text(server_log)
    server_errors = len(re.findall(r"Internal Server Error", server_log))
    results["server_errors_logged"] = server_errors
    (out / "summary.json").write_text(json.dumps(results, indent=2))

    total = server_errors
    for name, result in results.items():
        if not isinstance(result, dict):
            continue
        findings = result.get("findings", [])
        total += len(findings) + (1 if result.get("error") else 0)
        print(f"{name}: {len(findings)} finding(s) in {result.get('seconds')}s, exit {result.get('exit')}"
              + (f", {result['verdict']}" if "verdict" in result else "")
              + (f", ERROR {result['error']}" if result.get("error") else ""))  # fmt: skip
        for finding in findings:
            print(f"  - {finding}")
    print(f"server errors in the application log: {server_errors}")
    print(f"Total findings: {total} (reports in {out})")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
