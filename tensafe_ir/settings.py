"""TenSafe IR settings: one module, everything that varies between machines read from the
environment. With nothing set it runs on SQLite and an embedded (filesystem) Celery broker,
which is what `make run` on a fresh clone uses; DATABASE_URL and CELERY_BROKER_URL switch it
to PostgreSQL and Redis.

Grouped by concern, each group once and each setting assigned once: core Django (with the
whole INSTALLED_APPS and MIDDLEWARE); database; accounts and sessions; security and HTTPS;
cache and rate limits; API and tokens; Celery (every periodic task); outbound HTTP and email;
chat; communications and the status page; integrations; logging."""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TENSAFE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false)")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_rate(name: str, default: str) -> tuple[int, int] | None:
    """A rate limit "<count>/<period>" (period in seconds, or with s/m/h: "10/5m") as
    (count, seconds); "off" turns the limit off (None)."""
    value = os.environ.get(name, default).strip().lower()
    if value == "off":
        return None
    count, _, period = value.partition("/")
    units = {"s": 1, "m": 60, "h": 3600}
    multiplier = units.get(period[-1:], 1)
    number = period[:-1] if period[-1:] in units else period
    if not (count.isdigit() and number.isdigit() and int(count) > 0 and int(number) > 0):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a rate: use <count>/<period>, e.g. 10/5m, 600/60, or off"
        )
    return int(count), int(number) * multiplier


# --- Core Django ----------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG", False)
PRODUCTION = env_bool("TENSAFE_PRODUCTION", False)
# Django's own check (security.W009) flags keys that start with this prefix, so `check
# --deploy` names the development key wherever it is still in use.
DEVELOPMENT_SECRET_KEY = "django-insecure-tensafe-ir-development-key-not-for-production"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if PRODUCTION and not DEBUG:
    if not SECRET_KEY:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production")
    if SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be a random string of at least 50 characters in production "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
if not SECRET_KEY:
    # Development and tests only: a fixed key so sessions survive restarts of `make run`.
    SECRET_KEY = DEVELOPMENT_SECRET_KEY

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
# Absolute base used in links that leave the app (pages, emails, chat messages).
PUBLIC_BASE_URL = os.environ.get("TENSAFE_PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # Django's admin, its site with the pages that are no one model's list (the deliveries of
    # every outbox kind): incidents/admin_site.py.
    "incidents.admin_site.TenSafeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # In this order: each app's ready() registers its reactions (incidents/reactions.py), which
    # run in order of registration.
    "incidents",
    "comms",
    "pir",
    "integrations",
    # The project package is an app too: it registers the deploy checks and the session clock
    # (tensafe_ir/apps.py).
    "tensafe_ir",
    "dashboard",
]

MIDDLEWARE = [
    # Request counts and latency for /metrics (integrations/metrics.py): first, so it times the
    # whole request.
    "integrations.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every HTML response (dashboard/middleware.py), right after
    # SecurityMiddleware.
    "dashboard.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The session's idle and absolute limits (tensafe_ir/sessions.py), once the user is known.
    "tensafe_ir.sessions.SessionIdleTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "incidents.audit.AuditContextMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tensafe_ir.urls"
WSGI_APPLICATION = "tensafe_ir.wsgi.application"
ASGI_APPLICATION = "tensafe_ir.asgi.application"

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
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request without it
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'tensafe.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # web, worker and beat share the file: wait for the lock instead of failing, take the
        # write lock at BEGIN so two writers never deadlock upgrading read locks, and use WAL so
        # readers never block the writer.
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": ":memory:"}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT compilation: it starts when a plan's estimated cost passes jit_above_cost, which
    # the list's count for a non-security user does on 100,000 incidents (the visibility
    # rule's OR inflates the estimate), and compiling took 10-25 ms of a ~35 ms query that it
    # did not speed up (bench/load.py, docs/benchmarks.md). Short OLTP queries never gain.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c jit=off".strip()

# --- Accounts and sessions ------------------------------------------------------------------
AUTH_USER_MODEL = "incidents.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in is the dashboard's page (the admin's own sign-in is /admin/login/).
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:board"
LOGOUT_REDIRECT_URL = "dashboard:login"
SESSION_COOKIE_HTTPONLY = True
# A browser session ends TENSAFE_SESSION_SECONDS after sign-in whatever happens, or after
# TENSAFE_SESSION_IDLE_SECONDS without a request (tensafe_ir/sessions.py; 0: no idle limit).
SESSION_COOKIE_AGE = int(os.environ.get("TENSAFE_SESSION_SECONDS", str(12 * 3600)))
TENSAFE_SESSION_IDLE_SECONDS = int(os.environ.get("TENSAFE_SESSION_IDLE_SECONDS", "3600"))

# --- Security (docs/operations.md, "Security") ------------------------------------------------
# TENSAFE_HTTPS: the site is reached over HTTPS only (the default in production). It turns on
# the redirect to HTTPS, HSTS and HTTPS-only cookies; each can still be set on its own.
HTTPS = env_bool("TENSAFE_HTTPS", PRODUCTION)
SECURE_SSL_REDIRECT = env_bool("TENSAFE_SSL_REDIRECT", HTTPS)
# Load balancers probe /healthz and Prometheus scrapes /metrics over plain HTTP inside the
# network; a redirect would fail both (patterns match the path without its leading slash).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
# Behind a load balancer that terminates TLS, name the header it sets (X-Forwarded-Proto) so
# Django knows the original request was HTTPS. Only when the balancer always sets (or strips)
# it: a client could otherwise claim HTTPS itself.
_PROXY_SSL_HEADER = os.environ.get("TENSAFE_PROXY_SSL_HEADER", "").strip()
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https") if _PROXY_SSL_HEADER else None
)
SECURE_HSTS_SECONDS = int(os.environ.get("TENSAFE_HSTS_SECONDS", "31536000" if HTTPS else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("TENSAFE_HSTS_INCLUDE_SUBDOMAINS", True)
# The `preload` directive only makes the host eligible: nothing is preloaded until someone
# submits the domain at hstspreload.org (a separate, deliberate step).
SECURE_HSTS_PRELOAD = env_bool("TENSAFE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = env_bool("TENSAFE_SECURE_COOKIES", HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Swagger UI and Redoc (drf-spectacular's templates) start themselves with an inline <script>,
# so their two pages go without the Content-Security-Policy header; nothing else is exempt.
TENSAFE_CSP_EXEMPT_PATHS = ["/api/docs/", "/api/redoc/"]

# --- Cache and rate limits (incidents/ratelimit.py) -----------------------------------------
# Counters are shared by every web process: in Redis when TENSAFE_CACHE_URL is set (shared by
# every machine too; INCR is atomic, one round trip), else in the database (RateLimitCounter,
# one atomic upsert per count).
CACHE_URL = os.environ.get("TENSAFE_CACHE_URL", "").strip()
if CACHE_URL and not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(
        f"TENSAFE_CACHE_URL={CACHE_URL!r} is not a Redis URL (redis://host:6379/1)"
    )
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if CACHE_URL:
    CACHES["ratelimit"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": "tensafe-rl",
        # A slow or absent Redis costs a request at most this, then the limit lets it by.
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
# Every rate limit, "<count>/<period>" or "off":
# failed sign-ins (dashboard, admin, API token) per (username, client address): the tight one;
TENSAFE_RATE_LOGIN_USERNAME_ADDRESS = env_rate("TENSAFE_RATE_LOGIN_USERNAME_ADDRESS", "10/5m")
# per client address, whatever the usernames;
TENSAFE_RATE_LOGIN_ADDRESS = env_rate("TENSAFE_RATE_LOGIN_ADDRESS", "30/5m")
# per username across all addresses: a ceiling well above the pair's, so wrong passwords from
# elsewhere never lock the account's owner out while a spread-out guess still stops;
TENSAFE_RATE_LOGIN_USERNAME = env_rate("TENSAFE_RATE_LOGIN_USERNAME", "100/5m")
# status-page subscriptions (every POST) per client address and per email address;
TENSAFE_RATE_SUBSCRIBE_ADDRESS = env_rate("TENSAFE_RATE_SUBSCRIBE_ADDRESS", "10/1h")
TENSAFE_RATE_SUBSCRIBE_EMAIL = env_rate("TENSAFE_RATE_SUBSCRIBE_EMAIL", "3/1h")
# alert deliveries per integration (storms are legitimate: generous). An outage's storm sent
# 1,000 a minute through one Alertmanager (issue 16; repeats of a group cost one UPDATE), over
# the old 600: three times that, so only a runaway sender is refused;
TENSAFE_RATE_ALERTS = env_rate("TENSAFE_RATE_ALERTS", "3000/1m")
# Slack commands per Slack user (workspace and user id), linked or not; over it the user is told
# to slow down and nothing happens.
TENSAFE_RATE_CHAT = env_rate("TENSAFE_RATE_CHAT", "20/1m")
# Proxies in front of the app that append to X-Forwarded-For (a load balancer: 1). The client
# address is the one that many entries from the right; 0 uses the connection's address.
TENSAFE_TRUSTED_PROXY_COUNT = int(os.environ.get("TENSAFE_TRUSTED_PROXY_COUNT", "0"))

# --- API and tokens -------------------------------------------------------------------------
# API tokens expire this many days after sign-in (POST /api/v1/auth/token/).
try:
    TENSAFE_API_TOKEN_DAYS = float(os.environ.get("TENSAFE_API_TOKEN_DAYS", "30"))
except ValueError:
    TENSAFE_API_TOKEN_DAYS = 0.0
if not 0 < TENSAFE_API_TOKEN_DAYS <= 3650:
    raise ImproperlyConfigured(
        "TENSAFE_API_TOKEN_DAYS must be a number of days above 0 (at most 3650), e.g. 30"
    )
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "incidents.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "incidents.api.pagination.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "incidents.api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "incidents.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # Bodies are JSON (api-contract.md); anything else is a 415. Form encodings would give the
    # same fields other meanings (an empty string as null, "null" as text, lists as repeated
    # keys), which the schema cannot describe and strict input does not want.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# The incident list's pages are kept per version (newest timeline event) and viewer; this bounds
# what the version cannot see (incidents/api/list_cache.py). 0 turns the cache off.
TENSAFE_INCIDENT_LIST_CACHE_SECONDS = float(
    os.environ.get("TENSAFE_INCIDENT_LIST_CACHE_SECONDS", "10")
)
# The incident detail's bodies are kept by their ETag, which covers everything a body shows;
# this bounds what the tag cannot see (incidents/api/detail.py). 0: built every time.
TENSAFE_INCIDENT_DETAIL_CACHE_SECONDS = float(
    os.environ.get("TENSAFE_INCIDENT_DETAIL_CACHE_SECONDS", "10")
)
# The list's count is kept per version, viewer and filters (any page, ordering or page size),
# also when pages are not kept; this bounds it as above. 0: counted on every request.
TENSAFE_INCIDENT_LIST_COUNT_SECONDS = float(
    os.environ.get("TENSAFE_INCIDENT_LIST_COUNT_SECONDS", "10")
)
# How long a process reuses the version it read (0: a query on every request); its own changes
# drop it at once.
TENSAFE_INCIDENT_LIST_VERSION_TTL_SECONDS = float(
    os.environ.get("TENSAFE_INCIDENT_LIST_VERSION_TTL_SECONDS", "1")
)
SPECTACULAR_SETTINGS = {
    "TITLE": "TenSafe IR API",
    "DESCRIPTION": "Incident management for TenSafe's incident response procedures.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for the lifecycle's statuses wherever they appear (filters, transition input).
    "ENUM_NAME_OVERRIDES": {
        "IncidentStatusEnum": "incidents.states.Status",
        "TimelineKindEnum": "incidents.states.TimelineKind",
        "ContactMethodKindEnum": "incidents.models.oncall.ContactMethod.KINDS",
        # One name each for choice sets several serializers share (otherwise drf-spectacular
        # picks hashed names and warns, which `check --deploy` reports).
        "SeverityEnum": "incidents.states.Severity",
        "IntegrationKindEnum": "integrations.models.Integration.Kind",
        "DeliveryStatusEnum": "incidents.models.timers.Page.Status",
        # One per choice set of the reviews (a review's status and the transition target share
        # one; an action item's status and priority have their own).
        "PirStatusEnum": "pir.models.PirStatus",
        "ActionItemStatusEnum": "pir.models.ActionStatus",
        "ActionItemPriorityEnum": "pir.models.ActionPriority",
    },
}

# --- Celery --------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
# The embedded broker names a host (which it ignores) so kombu does not warn "No hostname was
# supplied" at every process start.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost//")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Embedded broker for a fresh clone: messages are files under var/broker, shared by the
    # web process, the worker and beat on one machine.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    # kombu never creates the data folders and creates the control folder without parents:
    # without these the worker dies at start with FileNotFoundError.
    for folder in ("queue", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("redis://"):
    # kombu's Redis transport with a race on connection loss closed (tensafe_ir/broker.py).
    CELERY_BROKER_TRANSPORT = "tensafe_ir.broker:Transport"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message for another worker
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# A worker keeps its database connection from one task to the next, as a web process does from
# one request to the next (DATABASE_CONN_MAX_AGE, checked before use: tensafe_ir/celery.py).
# Celery's Django fixup would close it around every task otherwise, and each task then paid
# for a new PostgreSQL session (a fork and an authentication on the server: about 4 ms of a
# page's 8 ms of CPU, docs/benchmarks.md). The fixup still closes it after this many tasks.
CELERY_DB_REUSE_MAX = 10_000
# Deadlines are rows; beat starts a sweep every second on its own queue, served by its own
# worker so page deliveries (and the outbox sweep) never delay an escalation.
# Queues: `timers` (the deadline sweeps: workers of their own, so no delivery delays an
# escalation), `pages` (page deliveries and the outbox sweep; the default workers take it in
# turn with `celery`, so a page never waits behind a storm's other deliveries) and `celery`
# (everything else). A router first: each outbox row's hand-off to its kind's queue.
CELERY_TASK_ROUTES = (
    "incidents.outbox.outbox_route",
    {
        "incidents.tasks.sweep_timers_task": {"queue": "timers"},
        "incidents.tasks.outbox_sweep_task": {"queue": "pages"},
    },
)
# Every periodic task, in one place. Rows are the record everywhere: these entries re-hand
# what a lost hand-off left behind, or do the periodic work itself.
CELERY_BEAT_SCHEDULE = {
    # Timers: escalations, communication deadlines, review reminders (incidents/timers.py).
    "sweep-timers": {
        "task": "incidents.tasks.sweep_timers_task",
        "schedule": 1.0,
        "options": {"expires": 5, "queue": "timers"},
    },
    # Stored alert deliveries are applied by workers: the receiving view wakes one, and beat
    # sends this every second so nothing waits for a lost or skipped hand-off (rows are the
    # queue).
    "apply-inbound": {
        "task": "integrations.tasks.apply_inbound_task",
        "schedule": 1.0,
        "options": {"expires": 2},
    },
    # The action-item review digests of 8.4 (P1 actions weekly, P2 actions every two weeks:
    # the policy's action_review_every_days) are written once per (action priority, period,
    # manager); beat asks every hour, so a new period's digests go out within the hour and a
    # lost send is retried.
    # The review reminders need no entry: they are deadlines the timer sweep fires.
    "pir-action-review-digests": {
        "task": "pir.tasks.action_review_digests_task",
        "schedule": 3600.0,
        "options": {"expires": 600},
    },
    # Re-hand chat commands whose hand-off was lost (update deliveries are outbox rows).
    "comms-requeue-stale": {
        "task": "comms.tasks.requeue_stale_comms_task",
        "schedule": 10.0,
        "options": {"expires": 10},
    },
    # The delivery outbox (incidents/outbox.py), pages included: rows whose worker died
    # (lease run out) or whose hand-off was lost (each kind's grace period passed) are handed
    # over again. Every 2 s, so a page lost with Redis goes out again 10-12 s after it was due
    # (its 10 s grace plus at most one interval). The message expires after the shortest
    # grace: while the pages queue is backed up by more than that (rows queued, not lost),
    # a sweep is dropped instead of handing every queued row over a second time; after a
    # Redis restart the queue is empty and it runs at once. It runs on the `pages` queue,
    # not `celery`: a storm's alert deliveries there kept every sweep waiting past its expiry
    # after a Redis restart (bench/bad_day.py: pages stranded 77-88 s). Never on the timers
    # queue, so it cannot hold up a deadline.
    "sweep-outbox": {
        "task": "incidents.tasks.outbox_sweep_task",
        "schedule": 2.0,
        "options": {"expires": 10, "queue": "pages"},
    },
}

# --- Outbound HTTP (incidents/outbound.py) and email ----------------------------------------
# Hosts or networks (CIDR) that pages, webhooks and chat follow-ups may reach although they
# resolve to private, loopback or link-local addresses (everything else non-public is refused).
TENSAFE_OUTBOUND_ALLOWLIST = env_list("TENSAFE_OUTBOUND_ALLOWLIST")
# Connect and read timeout of every outgoing request (the body is read within twice this).
TENSAFE_OUTBOUND_TIMEOUT_SECONDS = float(os.environ.get("TENSAFE_OUTBOUND_TIMEOUT_SECONDS", "5"))
# At most this much of an answer is read; the rest is dropped with the connection.
TENSAFE_OUTBOUND_MAX_RESPONSE_BYTES = int(
    os.environ.get("TENSAFE_OUTBOUND_MAX_RESPONSE_BYTES", str(64 * 1024))
)
# A PEM file of the CA certificates HTTPS targets are verified with, instead of the system's
# (an internal CA in front of webhook receivers); empty: the system's certificates.
TENSAFE_OUTBOUND_CA_FILE = os.environ.get("TENSAFE_OUTBOUND_CA_FILE", "")
# Events of a disabled outgoing webhook are held and sent, in order, when it is enabled again;
# held longer than this many days they are marked expired instead (old news is not sent).
TENSAFE_WEBHOOK_HOLD_DAYS = float(os.environ.get("TENSAFE_WEBHOOK_HOLD_DAYS", "7"))
# Without a mail server, mail is printed to the worker's log, text part only (tensafe_ir/mail.py).
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "tensafe_ir.mail.ConsoleEmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "incidents@tensafe.io")
# The mail server, for DJANGO_EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend
# (docs/integrations/email.md).
EMAIL_HOST = os.environ.get("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("DJANGO_EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("DJANGO_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("DJANGO_EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS")  # STARTTLS (port 587)
EMAIL_USE_SSL = env_bool("DJANGO_EMAIL_USE_SSL")  # implicit TLS (port 465)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured(
        "DJANGO_EMAIL_USE_TLS (STARTTLS) and DJANGO_EMAIL_USE_SSL (implicit TLS) exclude each "
        "other: set one."
    )
# Seconds an SMTP connection may stay silent before the send fails (Django waits forever by
# default): a send must end well within the outbox's lease (120 s, incidents/outbox.py), or a
# hung mail server would have the row sent again by another worker.
EMAIL_TIMEOUT = float(os.environ.get("DJANGO_EMAIL_TIMEOUT", "30"))

# --- Chat (comms/chatops.py) ----------------------------------------------------------------
# Slack slash commands (/chatops/slack/) are verified with this app's signing secret; unset,
# every command is refused.
SLACK_SIGNING_SECRET = os.environ.get("SLACK_SIGNING_SECRET", "")
# The Slack workspace (comms/slack.py, docs/integrations/slack.md): with a bot token, every
# incident gets its channel (created, topic, links pinned, role holders invited, announced in
# SLACK_ANNOUNCE_CHANNEL, archived after resolution); without one, nothing is sent to Slack.
SLACK_BOT_TOKEN = os.environ.get("SLACK_BOT_TOKEN", "")
SLACK_API_URL = os.environ.get("SLACK_API_URL", "https://slack.com/api/")
SLACK_ANNOUNCE_CHANNEL = os.environ.get("SLACK_ANNOUNCE_CHANNEL", "#incidents")
# How long the one-time link answered to an unlinked Slack user stays valid.
TENSAFE_CHAT_LINK_MINUTES = int(os.environ.get("TENSAFE_CHAT_LINK_MINUTES", "10"))
if TENSAFE_CHAT_LINK_MINUTES < 1:
    raise ImproperlyConfigured("TENSAFE_CHAT_LINK_MINUTES must be at least 1")

# --- Communications and the status page (comms/) --------------------------------------------
# How long before a communication deadline (2.1, 6.3) its owner is reminded; capped at half
# the interval, so a short cadence is never reminded of before its previous update is due.
TENSAFE_COMMS_REMINDER_LEAD_MINUTES = int(
    os.environ.get("TENSAFE_COMMS_REMINDER_LEAD_MINUTES", "5")
)
# How long one process reuses the status page's version before asking the database again
# (comms/status/caching.py): under load a cached hit then costs no query; 0 asks every time.
TENSAFE_STATUS_VERSION_TTL_SECONDS = float(
    os.environ.get("TENSAFE_STATUS_VERSION_TTL_SECONDS", "1")
)

# --- Post-incident reviews (pir/) -----------------------------------------------------------
# Rendered PIR PDFs each process keeps, by the digest of their HTML (pir/render/pdf.py), so a
# review downloaded by a whole meeting is printed once; 0 keeps none.
TENSAFE_PIR_PDF_CACHE_BYTES = int(os.environ.get("TENSAFE_PIR_PDF_CACHE_BYTES", str(32 << 20)))
if TENSAFE_PIR_PDF_CACHE_BYTES < 0:
    raise ImproperlyConfigured("TENSAFE_PIR_PDF_CACHE_BYTES must be 0 or more")

# --- Integrations (integrations/: alert ingestion, outgoing webhooks, /metrics) -------------
# /metrics answers 127.0.0.1 and ::1, or anyone sending `Authorization: Bearer <this>`.
TENSAFE_METRICS_TOKEN = os.environ.get("TENSAFE_METRICS_TOKEN", "")
# Apply alert deliveries inside the sender's request instead of in a worker (replies are
# slower, and an alert storm queues behind itself; for setups where no worker runs).
TENSAFE_INGEST_APPLY_INLINE = env_bool("TENSAFE_INGEST_APPLY_INLINE", False)

# --- Logging -------------------------------------------------------------------------------
# Every line goes through tensafe_ir.logs.RedactFilter: tokens in our URLs (acknowledge, iCal,
# subscription links), secret query parameters and other hosts' URL paths are written as
# <redacted>. gunicorn's access log uses the same filter (--logger-class, Procfile).
TENSAFE_TASK_LOG_LEVEL = os.environ.get("TENSAFE_TASK_LOG_LEVEL", "WARNING").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "tensafe_ir.logs.RedactFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": os.environ.get("TENSAFE_LOG_LEVEL", "INFO")},
    # runserver's request lines (Django's own handler for them has no filter).
    "loggers": {
        "django.server": {"handlers": ["console"], "propagate": False},
        # WeasyPrint logs every step of every PDF at INFO and fontTools every subset: warnings.
        "weasyprint": {"level": "WARNING"},
        "weasyprint.progress": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        # Celery's routine lines: beat sends the per-second sweeps (~10,000 lines an hour) and
        # each worker says "received" and "succeeded" for each (~8,600 an hour per worker).
        # Failures, retries and errors are warnings or worse and still show;
        # TENSAFE_TASK_LOG_LEVEL=INFO brings the routine back.
        **{
            name: {"level": TENSAFE_TASK_LOG_LEVEL}
            for name in ("celery.beat", "celery.app.trace", "celery.worker.strategy")
        },
    },
}
