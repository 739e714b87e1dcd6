"""Settings for Recommendation Tracker.

One module, read from the environment (12-factor). With no environment at all it runs the embedded
default: SQLite in the project folder, DEBUG on, email to the console.
"""

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

DEFAULT_SECRET_KEY = "insecure-development-key-change-me-for-any-real-deployment-0123456789"
SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEFAULT_SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY: DEBUG is off and the default development key is in use.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",  # full-text search and trigram lookups on PostgreSQL (harmless on SQLite)
    "django_filters",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "simple_history",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_tasks_db",
    "inspections",
    "tracker",
    "devdata",  # demo data, load data and benchmarks: seed_demo, generate_load_data, benchmark, benchmark_writes
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "tracker.middleware.SessionRefreshMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tracker.middleware.NoStoreMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "tracker.middleware.TwoFactorEnforcementMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "tracker.middleware.QueryStringGuardMiddleware",
    "tracker.middleware.NoScopeSignOutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "tracker.urls"
WSGI_APPLICATION = "tracker.wsgi.application"
ASGI_APPLICATION = "tracker.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "tracker.context_processors.may",
            ],
        },
    },
]

# On PostgreSQL, a connection is kept for CONN_MAX_AGE seconds and checked before reuse. Server-side
# binding with prepared statements (OPTIONS server_side_binding, prepare_threshold) and Django's connection
# pool (OPTIONS pool) were measured on the national load data and gave nothing measurable, so neither is
# set: docs/BENCHMARKS.md, "PostgreSQL connection settings: tried, not adopted".
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers carry on while a writer commits; IMMEDIATE takes the write lock up front
    # so a workflow transaction cannot fail half-way with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    # A second connection to the same database, for a job's progress only (tracker/jobs.py): work done
    # in one transaction (a findings import) records how far it has gone where others can see it at once.
    # SQLite lets one writer in at a time, so it has none: the progress of such work shows when it commits.
    DATABASES["progress"] = {**DATABASES["default"]}

# Seconds between two syncs of the write-ahead log by a findings import while it writes (PostgreSQL; 0: never),
# through the second connection: people's writes meanwhile then do not wait to sync the import's log
# (tracker/logsync.py, docs/BENCHMARKS.md).
LOG_SYNC_SECONDS = float(os.environ.get("LOG_SYNC_SECONDS", "0.05"))

REDIS_URL = os.environ.get("REDIS_URL", "")
REDIS_TIMEOUT = float(os.environ.get("REDIS_TIMEOUT", "1"))


def redis_caches(url: str, timeout: float = REDIS_TIMEOUT) -> dict:
    """The cache settings for a Redis server. It fails soft (tracker/cache.py): while Redis is down or
    does not answer within `timeout` seconds, pages are served from the database."""
    options = {"socket_connect_timeout": timeout, "socket_timeout": timeout}
    return {"default": {"BACKEND": "tracker.cache.FailSoftRedisCache", "LOCATION": url, "OPTIONS": options}}


if REDIS_URL:
    CACHES = redis_caches(REDIS_URL)
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "tracker.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "tracker.backends.UserWithOrganisationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "tracker:home"
LOGOUT_REDIRECT_URL = "login"

# Sessions end after this many seconds without a request (idle expiry). A request pushes the expiry on
# when the session was last saved at least SESSION_REFRESH_SECONDS ago (tracker.middleware), so pages
# do not write to the database on every request and the limit holds to within that many seconds.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_SECONDS", str(30 * 60)))
SESSION_REFRESH_SECONDS = int(os.environ.get("SESSION_REFRESH_SECONDS", "60"))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True

# Login throttling (django-axes): lock a username+address pair after repeated failures.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "1"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The client's address (lock-out and the security log): REMOTE_ADDR, or behind N proxies that append to
# X-Forwarded-For, set TRUSTED_PROXY_COUNT=N so that the proxy's address does not stand for every user.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
AXES_CLIENT_IP_CALLABLE = "tracker.signals.client_address"

# Two-factor: roles that must use TOTP. "admin" means superusers.
TWO_FACTOR_REQUIRED_ROLES = env_list("TWO_FACTOR_REQUIRED_ROLES", "" if DEBUG else "manager,inspector,admin")
OTP_TOTP_ISSUER = "Recommendation Tracker"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True
DATE_FORMAT = "j M Y"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
try:
    import xstatic.pkg.bootstrap

    STATICFILES_DIRS.append(("bootstrap", xstatic.pkg.bootstrap.BASE_DIR))
except ImportError:  # pragma: no cover - only before the requirements are installed
    pass

# Evidence files live outside static and are only ever served through a permission-checked view.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
# No URL serves MEDIA_ROOT. It still needs a prefix of its own: left empty, Django's live test server
# (which serves MEDIA_URL) would answer any path that names a stored file, e.g. /imports/<token>/.
MEDIA_URL = "/media/"
# Where evidence and import files are kept: the local folder (the embedded default, one server), or an
# object store every app server shares: Azure Blob Storage or any S3-compatible store. The container or
# bucket stays private: no URL ever points at a stored file; downloads pass the permission check and the
# app streams them (docs/STORAGE.md).
FILE_STORAGE = os.environ.get("FILE_STORAGE", "").strip().lower() or "local"
if FILE_STORAGE == "local":
    DEFAULT_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": None},
    }
elif FILE_STORAGE == "azure":
    if not (os.environ.get("AZURE_STORAGE_CONNECTION_STRING") or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")):
        raise ImproperlyConfigured(
            "FILE_STORAGE=azure needs AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME and "
            "AZURE_STORAGE_ACCOUNT_KEY."
        )
    DEFAULT_STORAGE = {
        "BACKEND": "storages.backends.azure_storage.AzureStorage",
        "OPTIONS": {
            "connection_string": os.environ.get("AZURE_STORAGE_CONNECTION_STRING") or None,
            "account_name": os.environ.get("AZURE_STORAGE_ACCOUNT_NAME") or None,
            "account_key": os.environ.get("AZURE_STORAGE_ACCOUNT_KEY") or None,
            "azure_container": os.environ.get("AZURE_STORAGE_CONTAINER", "evidence"),
            "overwrite_files": False,  # names are random; never replace a stored file
            "timeout": int(os.environ.get("FILE_STORAGE_TIMEOUT", "60")),
        },
    }
elif FILE_STORAGE == "s3":
    if not os.environ.get("S3_BUCKET"):
        raise ImproperlyConfigured("FILE_STORAGE=s3 needs S3_BUCKET (and S3_ENDPOINT_URL for a store other than AWS).")
    DEFAULT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["S3_BUCKET"],
            "endpoint_url": os.environ.get("S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("S3_REGION") or None,
            # Without these, boto3's own chain applies (AWS_ACCESS_KEY_ID, an instance role...).
            "access_key": os.environ.get("S3_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("S3_SECRET_ACCESS_KEY") or None,
            "addressing_style": os.environ.get("S3_ADDRESSING_STYLE") or None,
            "default_acl": None,  # the bucket's own policy, which must be private; never "public-read"
            "file_overwrite": False,
        },
    }
else:
    raise ImproperlyConfigured(f"FILE_STORAGE must be local, azure or s3, not {FILE_STORAGE!r}.")
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
EVIDENCE_MAX_BYTES = int(os.environ.get("EVIDENCE_MAX_BYTES", str(20 * 1024 * 1024)))
# Findings one import file may hold (reading stops past it), and how many the web import takes
# before it points to the command (docs/IMPORT.md).
IMPORT_MAX_ROWS = int(os.environ.get("IMPORT_MAX_ROWS", "25000"))
IMPORT_WEB_MAX_ROWS = int(os.environ.get("IMPORT_WEB_MAX_ROWS", "10000"))
# Malware scanning of evidence and import files by clamd (tracker.malware): tcp://host:3310 or
# unix:///run/clamav/clamd.ctl. Empty: no scanning. Set: an unreachable scanner refuses every upload.
CLAMAV_ADDRESS = os.environ.get("CLAMAV_ADDRESS", "").strip()
CLAMAV_TIMEOUT = float(os.environ.get("CLAMAV_TIMEOUT", "60"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Uploads larger than that wait on disk here while the request is read. Django removes each file when
# the request ends; one whose worker was killed mid-upload (a time-out, a restart) is left behind, so
# every process removes files older than UPLOAD_TEMP_MAX_AGE seconds from here as it starts (tracker.upload_temp).
FILE_UPLOAD_TEMP_DIR = os.environ.get("FILE_UPLOAD_TEMP_DIR", str(Path(tempfile.gettempdir()) / "tracker-uploads"))
UPLOAD_TEMP_MAX_AGE = int(os.environ.get("UPLOAD_TEMP_MAX_AGE", "3600"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Background jobs (docs/JOBS.md): Django's tasks framework, queued in the database and run by worker
# processes (`manage.py db_worker`; `make run` starts one beside the server). There is no immediate
# backend here, in development or production: long work never runs inside a web request.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# An XLSX export of more rows than this is prepared by a worker; smaller ones stream at once.
EXPORT_IN_WORKER_ROWS = int(os.environ.get("EXPORT_IN_WORKER_ROWS", "10000"))
# The public progress pages (/public/<slug>/ and their feeds) answer each client address at most this many
# times a minute; more get 429 until the minute is over (tracker/ratelimit.py, counted in the cache).
PUBLIC_REQUESTS_PER_MINUTE = int(os.environ.get("PUBLIC_REQUESTS_PER_MINUTE", "60"))
# A board pack PDF of more plans than this is made by a worker; a smaller one is made in the request
# (docs/JOBS.md has the timings behind the figure).
BOARD_PACK_PDF_IN_WORKER_PLANS = int(os.environ.get("BOARD_PACK_PDF_IN_WORKER_PLANS", "500"))
# Long PDFs (board packs, 56-day responses) are laid out in parts of about this many rows (plans,
# findings), at most PAPER_PROCESSES parts at a time, each in a process of its own that ends with its
# part; the parts are then joined and numbered (tracker/paper_layout.py, docs/BENCHMARKS.md "Documents").
PAPER_PART_ROWS = int(os.environ.get("PAPER_PART_ROWS", "200"))
PAPER_PROCESSES = int(os.environ.get("PAPER_PROCESSES", str(min(2, os.cpu_count() or 1))))
# Finished jobs' files are deleted after this many days (`manage.py prune_jobs`).
JOB_FILES_KEEP_DAYS = int(os.environ.get("JOB_FILES_KEEP_DAYS", "7"))

# The protective marking printed at the head and foot of every page of every document the app makes
# (board packs, responses), under the Government Security Classifications. The app is meant for
# OFFICIAL information; OFFICIAL-SENSITIVE marks papers whose loss would do more harm. Anything else is
# refused at start-up: SECRET and above may not be held here at all.
PROTECTIVE_MARKING = os.environ.get("PROTECTIVE_MARKING", "").strip().upper() or "OFFICIAL"
if PROTECTIVE_MARKING not in ("OFFICIAL", "OFFICIAL-SENSITIVE"):
    raise ImproperlyConfigured(
        f"PROTECTIVE_MARKING must be OFFICIAL or OFFICIAL-SENSITIVE, not {PROTECTIVE_MARKING!r}: "
        "information marked higher may not be held in this application."
    )

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Email (Django 6.1 MAILERS): console with DEBUG and no EMAIL_HOST; otherwise SMTP (EMAIL_HOST, default localhost).
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "tracker@localhost")
if os.environ.get("EMAIL_HOST") or not DEBUG:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": os.environ.get("EMAIL_HOST", "localhost"),
                "port": int(os.environ.get("EMAIL_PORT", "587")),
                "username": os.environ.get("EMAIL_HOST_USER", ""),
                "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
                "use_tls": env_bool("EMAIL_USE_TLS", True),
                "timeout": 30,
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}

# Security headers. Behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER=1.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tracker.api.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies only; the changes that may carry files add multipart/form-data (tracker.api.views.parsers_for).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "tracker.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "tracker.api.schema.TrackerAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "tracker.api.exceptions.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Recommendation Tracker API",
    "DESCRIPTION": (
        "Inspection findings, action plans and their workflow. Authenticate with `Authorization: Token <secret>` "
        "(tokens are issued by administrators at /admin/) or a signed-in browser session. Request bodies are JSON, "
        "except where an operation takes files (multipart/form-data); a body in another media type answers 415. "
        "A method a path does not list answers 405, with a JSON `detail` and an `Allow` header listing those it takes."
    ),
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tracker.api.schema.strict_openapi_30",
    ],
    "ENUM_NAME_OVERRIDES": {
        "PlanStatusEnum": "tracker.models.ActionPlan.Status",
        "UpdateKindEnum": "tracker.models.Update.Kind",
        "FindingKindEnum": "inspections.models.Finding.Kind",
        "OrganisationKindEnum": "inspections.models.Organisation.Kind",
        "RagEnum": "tracker.models.ActionPlan.Rag",
        "GradeEnum": "inspections.models.Grading.Grade",
        "ProgrammeEnum": "inspections.models.Inspection.Programme",
        "FindingLinkKindEnum": "inspections.models.FindingLink.Kind",
        "DependencyKindEnum": "tracker.models.Dependency.Kind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "tracker.security": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "tracker.cache": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "tracker.health": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "django": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
    },
}


# --- Single sign-on (OpenID Connect, docs/SIGN-IN.md) -------------------------------------------
# Off unless OIDC_ISSUER is set; the embedded default keeps its local accounts. The provider's
# endpoints come from its discovery document ({OIDC_ISSUER}/.well-known/openid-configuration), so only
# the issuer, the client and the claim names are configured. mozilla-django-oidc reads the OIDC_* names.
def sso_origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


OIDC_ISSUER = os.environ.get("OIDC_ISSUER", "").rstrip("/")
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_CLIENT_SECRET", "")
OIDC_RP_SCOPES = os.environ.get("OIDC_SCOPES", "openid email profile")
OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_SIGNING_ALGORITHM", "RS256")
OIDC_GROUPS_CLAIM = os.environ.get("OIDC_GROUPS_CLAIM", "groups")
OIDC_USERNAME_CLAIM = os.environ.get("OIDC_USERNAME_CLAIM", "preferred_username")
# The provider asserted a second factor when `amr` holds one of these (RFC 8176) or `acr` is one of these.
OIDC_MFA_AMR_VALUES = env_list("OIDC_MFA_AMR", "mfa")
OIDC_MFA_ACR_VALUES = env_list("OIDC_MFA_ACR")
OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "your organisation's account")
OIDC_CLOCK_LEEWAY_SECONDS = int(os.environ.get("OIDC_CLOCK_LEEWAY_SECONDS", "60"))
OIDC_TIMEOUT = int(os.environ.get("OIDC_TIMEOUT_SECONDS", "10"))
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_STORE_ID_TOKEN = True  # for the id_token_hint of RP-initiated logout
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc-callback"
# Password sign-in: on by default; off, only superusers (break-glass administrators) may use it.
LOCAL_SIGN_IN = env_bool("LOCAL_SIGN_IN", True)
if OIDC_ISSUER:
    if not (OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET):
        raise ImproperlyConfigured("OIDC_ISSUER is set: set OIDC_CLIENT_ID and OIDC_CLIENT_SECRET too.")
    AUTHENTICATION_BACKENDS.append("tracker.sso.SignInBackend")
    # Signing out posts a form whose answer redirects to the provider's end-session endpoint; the
    # browser holds that redirect to the form-action directive.
    SECURE_CSP["form-action"] = [*SECURE_CSP["form-action"], sso_origin(OIDC_ISSUER)]
# --- end of single sign-on ---------------------------------------------------------------------
