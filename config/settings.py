"""Project settings. Every knob is read from the environment here, and only here; the
wiring no deployment changes (apps, middleware, templates, CSP) is in config/wiring.py.

docs/CONFIGURATION.md lists each variable with its default; ops/tests/test_settings_source.py
keeps that list and this file in step.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.redis_url import DEFAULT_CACHE_DATABASE, same_database, with_database
from config.wiring import *  # noqa: F403 (apps, middleware, templates, CSP: fixed wiring)
from config.wiring import BASE_DIR

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

_DEV_SECRET_KEY = "insecure-development-key-only-used-when-DEBUG-is-on"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DEBUG is off.")

# The names a client on this machine uses for it; the quick start (scripts/run.sh) allows the
# same. 0.0.0.0 is what the older system's clients and docs address (http://0.0.0.0:8000).
LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]", "0.0.0.0"]
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[*LOCAL_HOSTS, "testserver"] if DEBUG else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set in the environment when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Database -----------------------------------------------------------------------------
# PostgreSQL everywhere: the quick start and the test suite start an embedded one
# (ops/embedded_postgres.py) and pass its URL here when DATABASE_URL is unset.
DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/imageclassifier")
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
    "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=3)
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts -----------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# Every login door (API, older /login, the site's, the browsable API's and the admin's
# forms) checks passwords here, behind the failed-login limits (accounts.login_guard).
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
# Password reset e-mails: SMTP when EMAIL_HOST is set, else printed to the web process's
# console (the quick start: .run/logs/web.log).
EMAIL_HOST = env.str("EMAIL_HOST", default="")
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=EMAIL_PORT == 587)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=EMAIL_PORT == 465)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Image classifier <noreply@localhost>")
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 3600)
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "classifier:upload"
LOGOUT_REDIRECT_URL = "accounts:login"

# --- Internationalisation and static files --------------------------------------------------
# Every user-visible string is wrapped for translation; the Spanish catalogues live in
# locale/ (project templates, config) and APP/locale/ (each app's code and templates).
# After changing strings: scripts/translations.sh (makemessages + compilemessages).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "classifier.storage.ImageFileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Uploaded images are never served from MEDIA_URL: they go through an owner-checked view.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "/media-not-served/"

# --- Where uploaded images live: MEDIA_ROOT (default) or an S3-compatible object store ------
# With S3, web and workers share no disk: a worker needs only the database, Redis, these
# settings and its model. Credentials: S3_* or the usual AWS_* names; neither set → boto3's
# own chain (instance role, ~/.aws). Objects are private (no ACL is ever sent).


def _first_env(*names: str, default: str = "") -> str:
    """The first of several equivalent variables that is set (ours, then the AWS name)."""
    return next((env.str(name) for name in names if env.str(name, default="")), default)


S3_BUCKET = _first_env("S3_BUCKET", "AWS_STORAGE_BUCKET_NAME")
STORAGE_BACKEND = env.str("STORAGE_BACKEND", default="s3" if S3_BUCKET else "filesystem")
if STORAGE_BACKEND == "s3":
    if not S3_BUCKET:
        raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs S3_BUCKET.")
    S3_ADDRESSING_STYLE = env.str("S3_ADDRESSING_STYLE", default="path")
    if S3_ADDRESSING_STYLE not in ("path", "virtual", "auto"):
        raise ImproperlyConfigured("S3_ADDRESSING_STYLE must be path, virtual or auto.")
    STORAGES["default"] = {
        "BACKEND": "classifier.s3storage.ImageS3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": _first_env("S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
            or None,
            "region_name": _first_env("S3_REGION", "AWS_DEFAULT_REGION", default="us-east-1"),
            "access_key": _first_env("S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID") or None,
            "secret_key": _first_env("S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY") or None,
            "addressing_style": S3_ADDRESSING_STYLE,
            "signature_version": "s3v4",
            "location": env.str("S3_PREFIX", default=""),
            "querystring_expire": env.int("S3_URL_EXPIRE_SECONDS", default=300),
            "connect_timeout": env.float("S3_CONNECT_TIMEOUT", default=3),
            "read_timeout": env.float("S3_READ_TIMEOUT", default=10),
            "max_attempts": env.int("S3_MAX_ATTEMPTS", default=2),
        },
    }
elif STORAGE_BACKEND != "filesystem":
    raise ImproperlyConfigured("STORAGE_BACKEND must be filesystem or s3.")

# --- Redis and the inference queue ----------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
INFERENCE_QUEUE = "inference"
# Training runs (training/): minutes each, so a queue of their own, served by
# `manage.py rqworker training` on a worker host, never by the inference workers.
TRAINING_QUEUE = "training"
RQ_QUEUES = {
    INFERENCE_QUEUE: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": env.int("JOB_TIMEOUT_SECONDS", 300)},
    TRAINING_QUEUE: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600},
}
# Enqueue immediately: submit_prediction creates the row first and must see Redis errors itself.
RQ = {"COMMIT_MODE": "auto"}
# Off: the admin index links our guarded /admin/rq/ instead (config.admin_site).
RQ_SHOW_ADMIN_LINK = False

# --- Classification -----------------------------------------------------------------------
CLASSIFIER_MODEL = env.str("CLASSIFIER_MODEL", default="resnet50")
RESNET50_WEIGHTS = env.str("RESNET50_WEIGHTS", default="imagenet")
# How the worker runs the Keras models (mlworker/runtimes.py): auto | tensorflow | openvino |
# onnxruntime, and auto | fp32 | bf16 | int8. `auto` runtime: the fastest that passes the
# parity tests on this host; `auto` precision: the fastest that passes the accuracy gate for
# each model (mlworker/gate.py: top-1 agreement with Keras fp32 on the gate's photos at least
# INFERENCE_GATE_MIN_TOP1_AGREEMENT). Read by workers only: each publishes the model name it
# runs, runtime and precision included (classifier.queueing), and the web shows that.
INFERENCE_RUNTIME = env.str("INFERENCE_RUNTIME", default="auto")
INFERENCE_PRECISION = env.str("INFERENCE_PRECISION", default="auto")
INFERENCE_GATE_MIN_TOP1_AGREEMENT = env.float("INFERENCE_GATE_MIN_TOP1_AGREEMENT", default=0.99)
# Threads of one worker's forward pass; 0: this host's cores / INFERENCE_WORKERS_PER_HOST.
INFERENCE_NUM_THREADS = env.int("INFERENCE_NUM_THREADS", default=0)
INFERENCE_WORKERS_PER_HOST = env.int("INFERENCE_WORKERS_PER_HOST", default=1)
MAX_UPLOAD_MB = env.float("MAX_UPLOAD_MB", default=10)
MAX_IMAGE_PIXELS = env.int("MAX_IMAGE_PIXELS", default=40_000_000)
# Pixels one process decodes at full resolution at the same time (web and worker each):
# photos under it decode together, larger ones take turns (classifier.imaging).
DECODE_PIXEL_BUDGET = env.int("DECODE_PIXEL_BUDGET", default=MAX_IMAGE_PIXELS)
PREDICT_WAIT_SECONDS = env.float("PREDICT_WAIT_SECONDS", default=30)
# Requests waiting for the model hold a server thread each: at most this many per user (all
# web processes together) and per web process (keep it at most half of gunicorn's threads,
# gunicorn.conf.py). Beyond them a request answers at once (202, still pending). The
# per-process bound is what keeps threads free; the per-user one (below it) keeps one account
# from taking a whole process, and is high enough for the older system's load tests, whose
# 10 users share one account.
WAIT_SLOTS_PER_USER = env.int("WAIT_SLOTS_PER_USER", default=12)
WAIT_SLOTS_PER_PROCESS = env.int("WAIT_SLOTS_PER_PROCESS", default=16)
# How many times a prediction is tried before it is marked failed (a worker dying mid-batch
# costs one attempt).
PREDICTION_MAX_ATTEMPTS = env.int("PREDICTION_MAX_ATTEMPTS", default=3)
BATCH_SIZE = env.int("BATCH_SIZE", default=16)
BATCH_MAX_WAIT_MS = env.float("BATCH_MAX_WAIT_MS", default=10)
# A worker that stops heart-beating for this long is presumed dead; its jobs are retried.
WORKER_HEARTBEAT_SECONDS = env.int("WORKER_HEARTBEAT_SECONDS", default=10)
# A started job whose worker has not finished it within this lease is retried elsewhere.
JOB_LEASE_SECONDS = env.int("JOB_LEASE_SECONDS", default=60)
# Overload: when this many jobs wait in the inference queue, uploads are refused at once
# (503 + Retry-After) instead of piling up behind it. 0 turns the cap off.
MAX_QUEUE_DEPTH = env.int("MAX_QUEUE_DEPTH", default=500)
# Jobs one user may have waiting in that queue at once (uploads over it: 429 + Retry-After),
# so one user flooding never fills the queue for everyone. 0 turns the cap off.
MAX_QUEUED_PER_USER = env.int("MAX_QUEUED_PER_USER", default=50)
# Uploads one user may store per UTC day (API, older API, upload form); 0 = no quota.
UPLOAD_QUOTA_PER_DAY = env.int("UPLOAD_QUOTA_PER_DAY", default=1000)
# A job still queued this long after its upload is not run: its prediction fails as
# expired, so a backlog (after an outage) does not burn the model on answers nobody
# waits for. 0 turns the deadline off.
PREDICTION_DEADLINE_SECONDS = env.float("PREDICTION_DEADLINE_SECONDS", default=600)
RQ_WORKER_LOG_LEVEL = env.str("RQ_LOG_LEVEL", default="WARNING")
# --- Model registry (registry/, README "Use your own model") -------------------------------
# Largest model file the admin or import_model accept.
MODEL_MAX_UPLOAD_MB = env.float("MODEL_MAX_UPLOAD_MB", default=500)
# How stale a process's idea of the live version may be: web processes re-read it from the
# database and workers look at its Redis key at most this often (a promotion serves new
# uploads within about this long plus the new version's load time).
MODEL_LIVE_CHECK_SECONDS = env.float("MODEL_LIVE_CHECK_SECONDS", default=1.0)
# Workers also re-read the live version from the database this often (Redis may have missed
# a promotion while it was down).
MODEL_LIVE_RECHECK_SECONDS = env.float("MODEL_LIVE_RECHECK_SECONDS", default=30.0)
MODEL_VALIDATION_TIMEOUT_SECONDS = env.int("MODEL_VALIDATION_TIMEOUT_SECONDS", default=600)
# --- Training from feedback (training/, docs/QUALITY.md "Training from feedback") ----------
# A run is refused unless every class has at least this many labelled images.
TRAINING_MIN_IMAGES_PER_CLASS = env.int("TRAINING_MIN_IMAGES_PER_CLASS", default=10)
# Share of images (by digest) held out for validation; most epochs and early-stop patience.
TRAINING_VALIDATION_SHARE = env.float("TRAINING_VALIDATION_SHARE", default=0.2)
TRAINING_EPOCHS = env.int("TRAINING_EPOCHS", default=40)
TRAINING_PATIENCE = env.int("TRAINING_PATIENCE", default=5)
TRAINING_TIMEOUT_SECONDS = env.int("TRAINING_TIMEOUT_SECONDS", default=3600)
# The model worker's files and TensorFlow's thread pools (0 = TensorFlow's default).
MODEL_CACHE_DIR = Path(
    env.str("MODEL_CACHE_DIR", default=str(Path.home() / ".cache" / "imageclassifier"))
)
KERAS_HOME = Path(env.str("KERAS_HOME", default="~/.keras")).expanduser()
TF_INTRA_OP_THREADS = env.int("TF_INTRA_OP_THREADS", default=0)
TF_INTER_OP_THREADS = env.int("TF_INTER_OP_THREADS", default=0)
# A whole request with a file: the upload cap plus 1 MB of room for the form around it
# (nginx's CLASSIFIER_MAX_BODY is the same figure). Files stay in memory up to it.
MAX_REQUEST_BODY_BYTES = int(MAX_UPLOAD_MB * 1024 * 1024) + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
# Any other body (JSON, a form's fields): small. The largest we take is a feedback comment
# of 2,000 characters; nginx's /api/ locations hold bodies to the same 64 KB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_JSON_BODY_BYTES", default=64 * 1024)

# --- REST framework -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.VersionedJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "config.api.PageNumberPagination",  # bad ?page= is a 400
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "config.schema.ApiSchema",  # documents the 4xx answers too
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        # Failed logins (successful ones give their slot back): per client address and
        # per normalised account; rates like "30/min" or "10/15min".
        "login": env.str("THROTTLE_LOGIN", default="30/min"),
        "login_account": env.str("THROTTLE_LOGIN_ACCOUNT", default="10/15min"),
        "refresh": env.str("THROTTLE_REFRESH", default="60/min"),
        "register": env.str("THROTTLE_REGISTER", default="20/hour"),
        "uploads": env.str("THROTTLE_UPLOADS", default="600/min"),
        # Password-reset requests (every one counts): per client address and per address
        # asked for (accounts.login_guard.reserve_password_reset).
        "password_reset": env.str("THROTTLE_PASSWORD_RESET", default="10/hour"),
        "password_reset_email": env.str("THROTTLE_PASSWORD_RESET_EMAIL", default="3/hour"),
    },
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "UPDATE_LAST_LOGIN": False,
    # A refresh token works once: refreshing returns a new one and blacklists the old.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

# --- Metrics (/metrics, Prometheus text format; see docs/METRICS.md) -------------------------
# Bearer token Prometheus sends; unset: /metrics answers 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# A directory (emptied when the server starts) where every gunicorn process writes its
# counters, so /metrics sums all processes. prometheus_client reads the variable itself;
# the stack (quick start, tests, load tests) sets it for gunicorn.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
PROMETHEUS_EXPORT_MIGRATIONS = False


# Rate limits, failed-login counts and token versions live in this cache, apart from the
# queue: in production a separate Redis instance with a memory cap and an eviction policy
# (docker-compose's `cache` service: maxmemory + allkeys-lru), while the queue's Redis keeps
# `noeviction`, so filling the cache can never evict a job. maxmemory is per instance: a
# database index of the queue's instance (the default) separates the keys, not the memory.
# Default: the queue's Redis server, database 1 (DEFAULT_CACHE_DATABASE), stated as such in
# docs/CONFIGURATION.md rather than derived from the queue's index.
CACHE_REDIS_URL = env.str(
    "CACHE_REDIS_URL", default=with_database(REDIS_URL, DEFAULT_CACHE_DATABASE)
)
if same_database(CACHE_REDIS_URL, REDIS_URL):
    raise ImproperlyConfigured(
        f"CACHE_REDIS_URL ({CACHE_REDIS_URL}) is the queue's database (REDIS_URL): the cache "
        "must have its own database; set CACHE_REDIS_URL (the default is database "
        f"{DEFAULT_CACHE_DATABASE} of the queue's server)"
    )
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_REDIS_URL,
        "KEY_PREFIX": "imageclassifier",
    }
}

# --- Production hardening (python manage.py check --deploy is clean with DEBUG=0) ----------
HTTPS = env.bool("HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
# Trusted reverse proxies in front of gunicorn. Rate limits key on the client address they
# append to X-Forwarded-For; with 0 only REMOTE_ADDR counts, so a client cannot dodge its
# login limit by sending made-up X-Forwarded-For headers.
REST_FRAMEWORK["NUM_PROXIES"] = env.int("NUM_PROXIES", default=1 if HTTPS else 0)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# The operator account `ensure_superuser` creates (quick start, compose) and the quick
# start's port (`run_stack`). No default password: without one, no account is made.
ADMIN_EMAIL = env.str("ADMIN_EMAIL", default="admin@example.com")
ADMIN_PASSWORD = env.str("ADMIN_PASSWORD", default="")
# Where scripts/run.sh keeps the password it generated (0600), named on start-up instead of it.
ADMIN_PASSWORD_FILE = env.str("ADMIN_PASSWORD_FILE", default="")
PORT = env.int("PORT", default=8000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"one_line": {"()": "config.log_filters.OneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "rq.worker": {"level": RQ_WORKER_LOG_LEVEL},
        # A request for a host not in ALLOWED_HOSTS is the client's mistake (or a scanner):
        # one warning line naming the host, not an error with a traceback.
        "django.security.DisallowedHost": {"level": "WARNING", "filters": ["one_line"]},
        # Django's own console handler (DEBUG only) would print every django.* line a
        # second time, next to the root handler's copy: log through the root only.
        "django": {"handlers": [], "propagate": True},
    },
}
