"""Every GET parameter of every page, fed hostile values: the answer is never a server error.

The pages come from the resolver, like the authorization sweep's (whose world and rules this reuses):
each routed pattern is requested as someone who may see it, with each of its query parameters set in
turn to each value of HOSTILE (dates that do not exist, NUL, huge and negative numbers, unicode,
markup, very long text), repeated, and as an array (`name[]=`). Then hypothesis draws further values.
A page answers 200 (the value is valid, or a form shows its error), 400 (a value that cannot mean
anything), 404 (it names nothing this user may see) or a redirect (the admin's own `?e=1`, sign-in's
`next`); never 500.

PARAMETERS lists each page's parameters, taken from its form or filter where it has one. It cannot
fall behind the code: every request records which query parameters the view read, and a parameter
read but not listed fails `test_every_parameter_a_page_reads_is_fuzzed`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.admin.views.main import (
    ALL_VAR,
    ERROR_FLAG,
    IS_FACETS_VAR,
    IS_POPUP_VAR,
    ORDER_VAR,
    PAGE_VAR,
    SEARCH_VAR,
    TO_FIELD_VAR,
)
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.wsgi import WSGIRequest
from django.http import QueryDict
from django.test import Client
from django.utils.functional import cached_property
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import sign_in
from tests.jobs import run_worker
from tests.test_authorization_sweep import (
    ENDPOINTS,
    LOGIN,
    RULES,
    SIGNED_IN,
    Endpoint,
    World,
    path_for,
    rule_for,
    variants_for,
)
from tracker.api.views import FindingFilter
from tracker.filters import ActionPlanFilter
from tracker.forms import BoardPackForm, DashboardForm, SearchForm
from tracker.imports.forms import PreviewQueryForm
from tracker.responses import ResponseDraftForm

PLAN_FILTERS = tuple(ActionPlanFilter.base_filters)
SEARCH = tuple(SearchForm.base_fields)
ADMIN_LIST = (ALL_VAR, ORDER_VAR, PAGE_VAR, SEARCH_VAR, ERROR_FLAG, IS_FACETS_VAR, IS_POPUP_VAR, TO_FIELD_VAR)
ADMIN_FORM = (IS_POPUP_VAR, TO_FIELD_VAR, "_changelist_filters")

# Each page's query parameters, by URL name. A page missing here has none (the recording checks it).
PARAMETERS: dict[str, tuple[str, ...]] = {
    "tracker:plan-list": (*PLAN_FILTERS, "page"),
    "tracker:plan-export-csv": PLAN_FILTERS,
    "tracker:plan-export-xlsx": PLAN_FILTERS,
    "tracker:dashboard": tuple(DashboardForm.base_fields),
    "tracker:board-pack": tuple(BoardPackForm.base_fields),
    "inspections:response-docx": tuple(ResponseDraftForm.base_fields),
    "inspections:response-pdf": tuple(ResponseDraftForm.base_fields),
    "tracker:board-pack-pdf": tuple(BoardPackForm.base_fields),
    "tracker:search": SEARCH,
    "imports:import-preview": tuple(PreviewQueryForm.base_fields),
    "imports:import-done": ("job",),
    "login": ("next",),
    "account": ("next",),
    "two-factor-verify": ("next",),
    "two-factor-setup": ("next",),
    "api:plan-list": (*PLAN_FILTERS, "page", "page_size"),
    "api:finding-list": (*FindingFilter.base_filters, "page", "page_size"),
    "api:organisation-list": ("page", "page_size"),
    "api:inspection-list": ("page", "page_size"),
    "api:plan-updates": ("page", "page_size"),
    "api:plan-evidence": ("page", "page_size"),
    "api:search": SEARCH,
    "api:schema": ("format", "lang", "version"),
    "api:docs": (),
}
# A parameter every page may receive (DRF reads `format` on every API view).
EVERYWHERE = ("format",)

HOSTILE: tuple[str, ...] = (
    "",
    " ",
    "\x00",
    "in\x00progress",
    "2024-02-30",
    "0000-00-00",
    "-0001-01-01",
    "99999-12-31",
    "2024-01-01T25:61:61",
    "-1",
    "0",
    "99999999999999999999999999999999",
    "1e309",
    "NaN",
    "\u00fc\u00df\u00e6 \u202e\ufeff \U0001f46e",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "%00%ff",
    "x" * 5000,
    "\ud800",  # a lone surrogate: sent as UTF-8 bytes that do not decode
)


def query(name: str, value: str, how: str = "plain") -> str:
    if how == "repeated":
        pairs = [(name, value), (name, "second")]
    elif how == "array":
        pairs = [(f"{name}[]", value), (f"{name}[0]", value)]
    else:
        pairs = [(name, value)]
    return urlencode([(k, v.encode("utf-8", "surrogatepass")) for k, v in pairs])


# --- which parameters a view reads ----------------------------------------------------------

READ: set[str] = set()


class RecordingQueryDict(QueryDict):
    """request.GET that notes every parameter looked up by name."""

    def __getitem__(self, key: str) -> Any:
        READ.add(key)
        return super().__getitem__(key)

    def getlist(self, key: str, default: Any = None) -> Any:
        READ.add(key)
        return super().getlist(key, default)

    def __contains__(self, key: object) -> bool:
        READ.add(str(key))
        return super().__contains__(key)


def _recording_get(self: WSGIRequest) -> QueryDict:
    from django.core.handlers.wsgi import get_bytes_from_wsgi

    return RecordingQueryDict(get_bytes_from_wsgi(self.environ, "QUERY_STRING", ""), encoding=self._encoding)


@pytest.fixture
def recording(monkeypatch):
    prop = cached_property(_recording_get)
    prop.__set_name__(WSGIRequest, "GET")
    monkeypatch.setattr(WSGIRequest, "GET", prop)
    READ.clear()
    yield READ


# --- the pages and who asks -----------------------------------------------------------------


def is_admin_page(endpoint: Endpoint) -> bool:
    return endpoint.key.startswith("admin:")


def is_changelist(endpoint: Endpoint) -> bool:
    return endpoint.key.endswith("_changelist")


def parameters(endpoint: Endpoint) -> tuple[str, ...]:
    if is_admin_page(endpoint) and endpoint.key not in RULES:
        return ADMIN_LIST if is_changelist(endpoint) else ADMIN_FORM
    return PARAMETERS.get(endpoint.key, ())


def get_pages() -> list[Endpoint]:
    return [e for e in ENDPOINTS if rule_for(e) is not None and "get" in rule_for(e).methods]


def requests_for(world: World, endpoint: Endpoint) -> list[tuple[str, str]]:
    """(role, path) pairs that reach the page: the roles the sweep lets in, one organisation member and
    one who sees everything where both may."""
    if endpoint.key == "imports:import-preview":  # needs an upload of the session's own (with_upload)
        return [("admin", "/imports/")]
    rule = rule_for(endpoint)
    found: list[tuple[str, str]] = []
    for variant in variants_for(world, endpoint, rule)[:1]:
        seen = [r for r in SIGNED_IN if variant.get.get(r) not in (403, 404, 405, LOGIN, None)]
        member = [r for r in seen if r in ("staff_a", "manager_a")][:1]
        roles = member + [r for r in seen if r in ("inspector", "admin")][:1]
        found += [(role, path_for(endpoint, variant)) for role in roles or seen[:1]]
    return found


ALLOWED = {200, 301, 302, 400, 404}


class Asker:
    def __init__(self, world: World) -> None:
        self.world = world
        self.clients: dict[str, Client] = {}

    def get(self, role: str, path: str) -> Any:
        client = self.clients.get(role)
        if client is None:
            client = self.clients[role] = Client(raise_request_exception=False)
            sign_in(client, self.world.users[role])
        return client.get(path)


def check(response: Any, where: str) -> None:
    assert response.status_code < 500, f"{where}: server error {response.status_code}"
    assert response.status_code in ALLOWED, f"{where}: unexpected {response.status_code}"


def with_upload(asker: Asker, role: str, path: str, endpoint: Endpoint) -> str:
    """The import preview needs an upload of this session's: make one, and fuzz its page."""
    if endpoint.key != "imports:import-preview":
        return path
    body = "inspection,inspection_slug,published_on,reference,kind,text,addressed_to\n"
    body += "Fuzz,fuzz-2024,2024-05-01,R1,recommendation,Text,surrey\n"
    upload = SimpleUploadedFile("findings.csv", body.encode(), content_type="text/csv")
    asker.get(role, "/")  # sign in
    response = asker.clients[role].post("/imports/", {"file": upload})
    assert response.status_code == 302, response.status_code
    run_worker()  # the check, so that the preview's rows are there to page through
    return response["Location"]


PAGES = get_pages()


@pytest.fixture
def world(db, settings):
    from tests.test_authorization_sweep import build_world

    settings.AXES_FAILURE_LIMIT = 10_000
    # Hundreds of requests from one address: the public pages' per-minute limit (tests/tracker/test_public.py
    # tests it) would answer 429 before the parameters were read.
    settings.PUBLIC_REQUESTS_PER_MINUTE = 1_000_000
    return build_world()


# Values that pass most fields' checks and so reach the queries behind a page: tried on each
# parameter alone, so that another parameter's error cannot stop them early.
REACHING = (
    "\u00fc\u00df\u00e6 \u202e\ufeff \U0001f46e",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "%00%ff",
    "x" * 5000,
    "99999999999999999999999999999999",
)


def hostile_queries(names: tuple[str, ...], values: tuple[str, ...]) -> list[str]:
    """Every value on every parameter: request k gives parameter i value (i + k) mod len(values), so
    len(values) requests cover every pair; once plain, once repeated, once as an array. Then the
    values in REACHING on each parameter alone."""
    found = []
    for how in ("plain", "repeated", "array"):
        for k in range(len(values)):
            found.append("&".join(query(name, values[(i + k) % len(values)], how) for i, name in enumerate(names)))
    found += [query(name, value) for name in names for value in REACHING]
    return found


def fuzzed(endpoint: Endpoint) -> bool:
    """Every page but the admin's add, delete and history pages, which read what its change page reads."""
    return (
        not is_admin_page(endpoint)
        or is_changelist(endpoint)
        or endpoint.key.endswith("_change")
        or (endpoint.key in RULES)
    )


@pytest.mark.parametrize("endpoint", [e for e in PAGES if fuzzed(e)], ids=lambda e: e.key)
def test_hostile_query_parameters_never_cause_a_server_error(endpoint, world, recording):
    asker = Asker(world)
    names = (*parameters(endpoint), *EVERYWHERE, "no_such_parameter")
    values = HOSTILE if not is_admin_page(endpoint) else HOSTILE[:4] + HOSTILE[9:12] + HOSTILE[14:15]
    for role, base in requests_for(world, endpoint):
        base = with_upload(asker, role, base, endpoint)
        joiner = "&" if "?" in base else "?"
        for hostile in hostile_queries(names, values):
            path = f"{base}{joiner}{hostile}"
            check(asker.get(role, path), f"GET {path[:300]} as {role}")


@pytest.mark.parametrize(
    "endpoint", [e for e in PAGES if not is_admin_page(e) and PARAMETERS.get(e.key)], ids=lambda e: e.key
)
def test_every_parameter_a_page_reads_is_fuzzed(endpoint, world, recording):
    """Run each page with all its listed parameters set: anything else it reads was left out of PARAMETERS."""
    asker = Asker(world)
    listed = set(parameters(endpoint)) | set(EVERYWHERE)
    for role, base in requests_for(world, endpoint):
        base = with_upload(asker, role, base, endpoint)
        READ.clear()
        joiner = "&" if "?" in base else "?"
        check(asker.get(role, base + joiner + urlencode(dict.fromkeys(listed, "1"))), endpoint.key)
        unlisted = READ - listed - {"HTTP_HX_REQUEST"}
        assert not unlisted, f"{endpoint.key} reads {sorted(unlisted)}: add them to PARAMETERS"


def test_every_page_without_parameters_reads_none(world, recording):
    asker = Asker(world)
    for endpoint in PAGES:
        if is_admin_page(endpoint) or endpoint.key in PARAMETERS:
            continue
        for role, base in requests_for(world, endpoint):
            READ.clear()
            check(asker.get(role, base), endpoint.key)
            unlisted = READ - set(EVERYWHERE)
            assert not unlisted, f"{endpoint.key} reads {sorted(unlisted)}: add it to PARAMETERS"


HYPOTHESIS_PAGES = [e for e in PAGES if not is_admin_page(e) and PARAMETERS.get(e.key)]
values = st.one_of(
    st.text(max_size=40),
    st.dates().map(str),
    st.integers().map(str),
    st.from_regex(r"\A-?\d{1,6}-\d{1,3}-\d{1,3}\Z"),
    st.sampled_from(HOSTILE),
)


@pytest.mark.parametrize("endpoint", HYPOTHESIS_PAGES, ids=lambda e: e.key)
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(data=st.data())
def test_generated_query_parameters_never_cause_a_server_error(endpoint, world, data):
    asker = Asker(world)
    role, base = requests_for(world, endpoint)[0]
    base = with_upload(asker, role, base, endpoint)
    names = parameters(endpoint)
    chosen = data.draw(st.lists(st.tuples(st.sampled_from(names), values), min_size=1, max_size=4))
    joiner = "&" if "?" in base else "?"
    path = base + joiner + urlencode([(k, v.encode("utf-8", "surrogatepass")) for k, v in chosen])
    check(asker.get(role, path), f"GET {path[:200]} as {role}")


def test_every_page_listed_exists():
    assert set(PARAMETERS) <= {e.key for e in PAGES}


def test_the_fuzz_reaches_the_pages_found_from_outside():
    keys = {e.key for e in HYPOTHESIS_PAGES}
    assert {"tracker:board-pack", "tracker:dashboard", "tracker:plan-list", "tracker:search"} <= keys
