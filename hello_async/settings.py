"""Settings for hello_async, read from the environment (and only from there).

Two modes:

* **local** (the default): ``DJANGO_ALLOWED_HOSTS`` unset. The server answers on loopback names
  only, uses an SQLite file beside the code, and keeps a random secret key in ``.secret_key``
  (created on first use, never committed), so ``uv run hello-async`` works on a fresh clone.
* **production**: ``DJANGO_ALLOWED_HOSTS`` set and ``DJANGO_DEBUG`` off. A real
  ``DJANGO_SECRET_KEY`` is then required (the server refuses to start without one) and the
  HTTPS hardening that ``manage.py check --deploy`` asks for is on.

Every variable is listed in docs/settings.md; a test fails when one is missing there.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, on/off).")


def env_float(
    name: str, default: float, *, minimum: float = 0.0, maximum: float = float("inf")
) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    if not minimum <= value <= maximum:  # also rejects NaN
        raise ImproperlyConfigured(
            f"{name}={raw!r} must be a number from {minimum:g} to {maximum:g}."
        )
    return value


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    return int(env_float(name, default, minimum=minimum))


def env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def env_ints(name: str, default: str) -> tuple[int, ...]:
    raw = os.environ.get(name, default)
    try:
        values = tuple(int(item) for item in raw.split(",") if item.strip())
    except ValueError:
        values = (-1,)
    if len(values) > 3 or any(value < 0 for value in values):
        raise ImproperlyConfigured(
            f"{name}={raw!r} must be up to three whole numbers >= 0, e.g. 700,10,100."
        )
    return values


# --- Mode, secret key, hosts -------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")
PRODUCTION = bool(ALLOWED_HOSTS) and not DEBUG
if not ALLOWED_HOSTS:
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

_SECRET_FILE = BASE_DIR / ".secret_key"
_WEAK_KEY_PREFIXES = ("django-insecure", "change-me", "changeme", "secret")


def _secret_key() -> str:
    key = os.environ.get("DJANGO_SECRET_KEY", "").strip()
    if PRODUCTION:
        if not key:
            raise ImproperlyConfigured(
                "DJANGO_SECRET_KEY is not set. In production (DJANGO_ALLOWED_HOSTS set, "
                "DJANGO_DEBUG off) the server refuses to start without a real secret key. "
                'Make one with: python -c "import secrets; print(secrets.token_urlsafe(50))"'
            )
        if len(key) < 50 or len(set(key)) < 5 or key.lower().startswith(_WEAK_KEY_PREFIXES):
            raise ImproperlyConfigured(
                "DJANGO_SECRET_KEY looks like a default or weak key (under 50 characters, few "
                "distinct characters, or a placeholder). Set a random one of 50+ characters."
            )
        return key
    if key:
        return key
    # Local mode: one random key per checkout, kept beside the code and out of git, so that
    # sessions survive restarts and are shared by every worker process.
    try:
        return _SECRET_FILE.read_text().strip()
    except FileNotFoundError:
        new_key = secrets.token_urlsafe(50)
        fd = os.open(_SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(new_key)
        return new_key
    except OSError:  # a read-only checkout: a key for this process only
        return secrets.token_urlsafe(50)


SECRET_KEY = _secret_key()

# --- The fast path (hello_async.fastpath, docs/performance.md) --------------------------------

# Forks of Django and HTTPX internals that keep a request on the event loop and cut its CPU. 0 runs
# Django's own handler, middleware and responses, httpx-aiohttp and Python's own collector.
HELLO_ASYNC_FASTPATH = env_bool("HELLO_ASYNC_FASTPATH", True)
# Single forks turned off by name (comma-separated; the names: hello_async.fastpath.FORKS).
HELLO_ASYNC_FASTPATH_OFF = frozenset(env_list("HELLO_ASYNC_FASTPATH_OFF"))
# The event loop Uvicorn serves on, for hello-async and deploy/gunicorn.conf.py (Uvicorn's --loop):
# uvloop accepting every waiting connection in one turn, else Uvicorn's own choice (uvloop).
SERVER_LOOP = (
    "hello_async.fastpath.accept:AcceptAllLoop"
    if HELLO_ASYNC_FASTPATH and "accept" not in HELLO_ASYNC_FASTPATH_OFF
    else "auto"
)

# --- Applications -----------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic",
    "django.contrib.staticfiles",
    "django_tasks_db",
    "hello_async.apps.HelloAsyncConfig",
]

MIDDLEWARE = [
    # Tells the request metrics the URL pattern Django resolved for the request.
    "hello_async.ops.requestmetrics.RouteMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "hello_async.web.staticfiles.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "hello_async.web.middleware.ErrorResponseMiddleware",
]

ROOT_URLCONF = "hello_async.urls"
ASGI_APPLICATION = "hello_async.asgi.application"
WSGI_APPLICATION = "hello_async.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "hello_async.web.pages.pages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg 3's pool, one per process; connections go back to it after each request.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env_int("DATABASE_POOL_MIN", 1, minimum=0),
        "max_size": env_int("DATABASE_POOL_MAX", 10, minimum=1),
        "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0),
        # Idle connections above min_size are closed after this long (s), one per period.
        "max_idle": env_float("DATABASE_POOL_MAX_IDLE", 600.0, minimum=1.0),
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for a writer instead of failing at once under concurrent requests.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# The lab page speaks both; the article's response bodies are not translated.
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LOCALE_PATHS = [BASE_DIR / "hello_async" / "locale"]
USE_TZ = True

# --- Static files (served under Uvicorn too) --------------------------------------------------
# ServeStatic is WhiteNoise's fork with native ASGI support: WhiteNoise streams files through
# sync iterators, which Django's ASGI handler warns about and runs through a thread.

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Serve straight from the apps' static folders when collectstatic has not run, so the admin is
# styled on a fresh clone; after collectstatic, the collected copy is served.
SERVESTATIC_USE_FINDERS = True

# --- The article's upstream and demo timings --------------------------------------------------

# Base URL of the httpbin the views call. Unset: a local httpbin is started on loopback.
UPSTREAM_URL = os.environ.get("UPSTREAM_URL", "").strip().rstrip("/") or None
# Total deadline of one upstream call, in seconds (connect + send + the whole body).
UPSTREAM_TIMEOUT = env_float("UPSTREAM_TIMEOUT", 10.0, minimum=0.001)
# Connections the async client may hold open to the upstream (per process).
UPSTREAM_MAX_CONNECTIONS = env_int("UPSTREAM_MAX_CONNECTIONS", 1000, minimum=1)
# The async client's transport: "http11" (hello_async.upstream.transport: HTTP/1.1 on asyncio and
# httptools, the leanest) or "aiohttp" (httpx-aiohttp, for what http11 lacks: proxies...).
UPSTREAM_TRANSPORT = os.environ.get("UPSTREAM_TRANSPORT", "").strip().lower() or (
    "http11" if HELLO_ASYNC_FASTPATH else "aiohttp"
)
if UPSTREAM_TRANSPORT not in {"http11", "aiohttp"}:
    raise ImproperlyConfigured(
        f"UPSTREAM_TRANSPORT={UPSTREAM_TRANSPORT!r} must be 'http11' or 'aiohttp'."
    )
# What the upstream may send back (hello_async.upstream.limits): past any of these, the call
# fails at once with a 502 naming the limit, and the connection is closed.
UPSTREAM_MAX_HEADER_BYTES = env_int("UPSTREAM_MAX_HEADER_BYTES", 65_536, minimum=1024)
UPSTREAM_MAX_HEADERS = env_int("UPSTREAM_MAX_HEADERS", 100, minimum=1)
UPSTREAM_MAX_BODY_BYTES = env_int("UPSTREAM_MAX_BODY_BYTES", 262_144, minimum=1)
UPSTREAM_MAX_BODY_CHUNKS = env_int("UPSTREAM_MAX_BODY_CHUNKS", 1024, minimum=1)
# A call cancelled after its request went out (its client left): seconds its connection may
# spend reading the answer for nobody, then go back to the pool (0: closed at once).
UPSTREAM_DRAIN_CANCELLED = env_float("UPSTREAM_DRAIN_CANCELLED", 0.5, minimum=0.0)
# Multiplies every demo wait of the article (1 s ticks, 2 s and 1 s waits, the 5 s burn).
HELLO_ASYNC_TIME_SCALE = env_float("HELLO_ASYNC_TIME_SCALE", 1.0)
# How long shutdown waits for background work before cancelling what is left, in seconds.
HELLO_ASYNC_SHUTDOWN_GRACE = env_float("HELLO_ASYNC_SHUTDOWN_GRACE", 10.0)
# Background jobs (/async/, /sync_to_async/) pending per process at most; the next view that
# would start one answers 503 with Retry-After (hello_async.jobs.background).
HELLO_ASYNC_BACKGROUND_MAX = env_int("HELLO_ASYNC_BACKGROUND_MAX", 1000, minimum=1)
# Threads of the background owner's own pool, for the blocking part of a job (/sync_to_async/).
HELLO_ASYNC_BACKGROUND_THREADS = env_int("HELLO_ASYNC_BACKGROUND_THREADS", 32, minimum=1)

# --- Runtime limits and probes (docs/reliability-runtime.md) -----------------------------------

# Largest request body accepted, in bytes; larger gets 413 before Django reads it (asgi_limits).
HELLO_ASYNC_MAX_BODY_BYTES = env_int("HELLO_ASYNC_MAX_BODY_BYTES", 1_048_576, minimum=0)
# An event-loop stall longer than this (ms) is logged with the requests in flight; 0: no monitor.
HELLO_ASYNC_LOOP_STALL_MS = env_float("HELLO_ASYNC_LOOP_STALL_MS", 100.0)
# The garbage collector, once startup is done (hello_async.ops.gctuning): what startup loaded frozen
# out of the collector's scans, full collections 10x rarer than Python's default. Empty
# thresholds / 0 leave Python's own.
HELLO_ASYNC_GC_FREEZE = env_bool("HELLO_ASYNC_GC_FREEZE", HELLO_ASYNC_FASTPATH)
HELLO_ASYNC_GC_THRESHOLDS = env_ints(
    "HELLO_ASYNC_GC_THRESHOLDS", "700,10,100" if HELLO_ASYNC_FASTPATH else ""
)
# /readyz asks the upstream at most once per this many seconds, however often it is probed.
HELLO_ASYNC_READY_CACHE_SECONDS = env_float("HELLO_ASYNC_READY_CACHE_SECONDS", 1.0)
# Deadline of each /readyz check (upstream GET, database SELECT 1), in seconds.
HELLO_ASYNC_READY_TIMEOUT = env_float("HELLO_ASYNC_READY_TIMEOUT", 2.0, minimum=0.001)

# --- Live: server-sent events (hello_async.live, docs/live.md) ----------------------------------

# Event streams a process keeps open at most (the live views, consoles, boards); the next: 503.
HELLO_ASYNC_SSE_MAX_SUBSCRIBERS = env_int("HELLO_ASYNC_SSE_MAX_SUBSCRIBERS", 1000, minimum=1)
# Events a stream may have waiting for a slow client; past it the client is dropped.
HELLO_ASYNC_SSE_QUEUE = env_int("HELLO_ASYNC_SSE_QUEUE", 256, minimum=1)
# Seconds an open stream may stay silent before a heartbeat comment goes out.
HELLO_ASYNC_SSE_HEARTBEAT = env_float("HELLO_ASYNC_SSE_HEARTBEAT", 15.0, minimum=0.05)
# Seconds between two looks at the orders while the board is watched (one look per process).
HELLO_ASYNC_BOARD_POLL = env_float("HELLO_ASYNC_BOARD_POLL", 0.5, minimum=0.05)
# Each feed's own cap per process (a crowd on one leaves the others open); each defaults to
# HELLO_ASYNC_SSE_MAX_SUBSCRIBERS.
HELLO_ASYNC_SSE_MAX_PER_FEED = {
    "live": env_int("HELLO_ASYNC_SSE_MAX_LIVE", HELLO_ASYNC_SSE_MAX_SUBSCRIBERS, minimum=1),
    "console": env_int("HELLO_ASYNC_SSE_MAX_CONSOLES", HELLO_ASYNC_SSE_MAX_SUBSCRIBERS, minimum=1),
    "board": env_int("HELLO_ASYNC_SSE_MAX_BOARDS", HELLO_ASYNC_SSE_MAX_SUBSCRIBERS, minimum=1),
}
# Seconds an endless stream (a console, a board) stays open; then it ends with a ``retry:``
# hint, so idle clients give their place back and reconnects spread over the processes.
HELLO_ASYNC_SSE_MAX_AGE = env_float("HELLO_ASYNC_SSE_MAX_AGE", 300.0, minimum=0.05)
# The broker of the live feeds across processes and hosts (hello_async.streams.broker): Redis
# pub/sub at this URL; empty: in-process (the embedded default, one process).
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
# What the broker's channel names start with: deployments (or tests) sharing one Redis keep
# apart by it (pub/sub channels are not per database).
HELLO_ASYNC_REDIS_PREFIX = os.environ.get("HELLO_ASYNC_REDIS_PREFIX", "hello_async:")
# Messages a process may have waiting for Redis; past it (or while Redis is away) dropped.
HELLO_ASYNC_BROKER_BUFFER = env_int("HELLO_ASYNC_BROKER_BUFFER", 10_000, minimum=1)

# --- What strangers can reach (docs/production.md) -----------------------------------------------

# The lab (/lab/) and the side-by-side endpoints (/compare/...) make the server load or block
# itself: on locally and under DEBUG, off (404) in production unless set.
HELLO_ASYNC_LAB = env_bool("HELLO_ASYNC_LAB", not PRODUCTION)
# /metrics: open locally and under DEBUG; in production it answers only to
# ``Authorization: Bearer <token>`` and is off (404) while no token is set.
HELLO_ASYNC_METRICS_TOKEN = os.environ.get("HELLO_ASYNC_METRICS_TOKEN", "").strip()
# prometheus-client's multiprocess mode: each process writes its figures to a file of its own in
# this directory, and /metrics adds them up (hello_async.ops.metrics). ``hello-async --workers N``
# (N > 1) makes a fresh one; under Gunicorn, set it (docs/deploy.md). Empty: one process.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()

# --- Task queue: Django Tasks on the database (django-tasks-db), see hello_async/work/worker ---

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# A RUNNING task whose worker sent no heartbeat for this long (s) goes back to READY (or FAILED).
HELLO_ASYNC_TASK_LEASE = env_float("HELLO_ASYNC_TASK_LEASE", 30.0, minimum=0.1)
# Runs of one task (that raised, or whose worker was lost) before it is FAILED, not retried.
HELLO_ASYNC_TASK_MAX_ATTEMPTS = env_int("HELLO_ASYNC_TASK_MAX_ATTEMPTS", 3, minimum=1)
# On PostgreSQL an idle worker LISTENs and is woken at once when a task becomes READY (a trigger
# NOTIFYs); off (0) behind a pooler that cannot LISTEN, such as PgBouncer in transaction mode.
HELLO_ASYNC_TASK_LISTEN = env_bool("HELLO_ASYNC_TASK_LISTEN", True)
# How long an idle worker waits before looking for a READY task again, in seconds: the safety net
# behind LISTEN on PostgreSQL (a missed notification), the only way on SQLite.
HELLO_ASYNC_TASK_POLL_INTERVAL = env_float(
    "HELLO_ASYNC_TASK_POLL_INTERVAL",
    5.0 if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" else 1.0,
    minimum=0.01,
)
# After SIGTERM, how long a worker lets its current task run before giving it back (READY).
HELLO_ASYNC_TASK_SHUTDOWN_GRACE = env_float("HELLO_ASYNC_TASK_SHUTDOWN_GRACE", 30.0, minimum=0.1)
# A task that raises is retried after this many seconds, doubled on each later attempt (up to
# the _MAX), until HELLO_ASYNC_TASK_MAX_ATTEMPTS runs are used; then it is FAILED.
HELLO_ASYNC_TASK_RETRY_BACKOFF = env_float("HELLO_ASYNC_TASK_RETRY_BACKOFF", 2.0, maximum=86_400)
HELLO_ASYNC_TASK_RETRY_BACKOFF_MAX = env_float(
    "HELLO_ASYNC_TASK_RETRY_BACKOFF_MAX", 300.0, maximum=86_400
)
# A task still running after this many seconds is stopped and FAILED; 0: no limit.
HELLO_ASYNC_TASK_TIME_LIMIT = env_float("HELLO_ASYNC_TASK_TIME_LIMIT", 600.0)
# Finished tasks (SUCCESSFUL or FAILED) older than this many seconds are deleted by the workers
# and by ``manage.py prune_tasks``; 0: kept for ever.
HELLO_ASYNC_TASK_RETENTION = env_float("HELLO_ASYNC_TASK_RETENTION", 7 * 86_400.0)
# Task worker processes ``hello-async`` (serve) runs beside the web server; 0: none.
HELLO_ASYNC_SERVE_TASK_WORKERS = env_int("HELLO_ASYNC_SERVE_TASK_WORKERS", 1)
# Orders (READY tasks) the queue holds at most: past it POST /smoke_orders/ answers 503 with
# Retry-After and queues nothing. Counted in the database, so it holds across processes and hosts.
HELLO_ASYNC_TASK_MAX_QUEUED = env_int("HELLO_ASYNC_TASK_MAX_QUEUED", 1000, minimum=1)

# --- Logging: the article's console lines, at INFO, written off the loop (hello_async.logs) -----

HELLO_ASYNC_LOG_LEVEL = os.environ.get("HELLO_ASYNC_LOG_LEVEL", "").strip().upper() or "INFO"
if HELLO_ASYNC_LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f"HELLO_ASYNC_LOG_LEVEL={HELLO_ASYNC_LOG_LEVEL!r} must be DEBUG, INFO, WARNING, ERROR or "
        "CRITICAL."
    )
# "console": the lines as Uvicorn prints them; "json": one JSON object per line (production).
HELLO_ASYNC_LOG_FORMAT = os.environ.get("HELLO_ASYNC_LOG_FORMAT", "").strip().lower() or "console"
if HELLO_ASYNC_LOG_FORMAT not in {"console", "json"}:
    raise ImproperlyConfigured(
        f"HELLO_ASYNC_LOG_FORMAT={HELLO_ASYNC_LOG_FORMAT!r} must be 'console' or 'json'."
    )
# Records waiting for the writer thread at most; while the output is blocked, later ones are
# dropped and counted (hello_async_log_records_dropped_total), never waited for.
HELLO_ASYNC_LOG_QUEUE = env_int("HELLO_ASYNC_LOG_QUEUE", 10_000, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        # The project's lines: to the console at the configured level, to taps at any.
        "console": {
            "()": "hello_async.logs.handlers.deferred_handler",
            "format": HELLO_ASYNC_LOG_FORMAT,
            "console_level": HELLO_ASYNC_LOG_LEVEL,
            "taps": True,
            "queue": HELLO_ASYNC_LOG_QUEUE,
        },
        # Django's own warnings and errors, through the same writer.
        "django": {
            "()": "hello_async.logs.handlers.deferred_handler",
            "format": HELLO_ASYNC_LOG_FORMAT,
            "queue": HELLO_ASYNC_LOG_QUEUE,
        },
    },
    "loggers": {
        "hello_async": {
            "handlers": ["console"],
            "level": HELLO_ASYNC_LOG_LEVEL,
            "propagate": False,
        },
        "django": {"handlers": ["django"], "level": "WARNING", "propagate": False},
    },
}

# --- Security ---------------------------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Django 6's built-in CSP: same-origin resources only, no inline script or style, no framing.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    # TLS ends at the proxy in front of Uvicorn/Gunicorn, which sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
