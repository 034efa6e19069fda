"""The one settings module. Production differs from a laptop only by environment variables.

Nothing set → the embedded default: SQLite and a file cache under ``var/``, Celery on kombu's filesystem
transport (still real worker and beat processes). ``DATABASE_URL`` → that database; ``REDIS_URL`` → Redis is
the cache, the Celery broker and result backend, and the WeCom token store. Every variable is documented in
``.env.example`` and the README.
"""

import secrets
from pathlib import Path

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _
from kombu import Queue as KombuQueue

from scrm.queues import Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A local .env is a convenience for developers; real deployments set the environment. SCRM_ENV_FILE lets
# tests (and operators) point elsewhere, or at /dev/null to ignore it.
environ.Env.read_env(env.str("SCRM_ENV_FILE", default=str(BASE_DIR / ".env")))

VAR_DIR = Path(env.str("SCRM_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)


def _secret_key() -> str:
    """SECRET_KEY from the environment; else one generated once and kept under var/ (never in the code).

    The fallback keeps the embedded default one command away; ``check --deploy`` flags it (scrm.W001).
    """
    if value := env.str("SECRET_KEY", default=""):
        return value
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.touch(mode=0o600)
        key_file.write_text(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
SECRET_KEY_FROM_ENV = bool(env.str("SECRET_KEY", default=""))

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
# The public address customers reach (https://scrm.example.com): printed QR codes encode it, so a code made
# from an internal admin address still works on a poster. Empty = the address the request came in on.
SITE_URL = env.str("SITE_URL", default="")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "scrm.core",
    "scrm.wecom",
    "customers",
    "tagging",
    "groups",
    "sop",
]

MIDDLEWARE = [
    "scrm.core.middleware.RequestIdMiddleware",
    "scrm.core.middleware.HealthProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "scrm.core.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "scrm.urls"
WSGI_APPLICATION = "scrm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "scrm" / "templates"],
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

# --- Database ---------------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: WAL lets readers run beside the writer, IMMEDIATE takes the
    # write lock up front so concurrent writers wait (timeout) instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so that a real Celery worker process in the tests sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, broker, token store ----------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Short socket timeouts: a dead Redis must make /readyz answer 503 quickly, not hang the probe.
REDIS_SOCKET_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "scrm.core.cache.RedisCache",  # one redis-py client per pool: see the module
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "scrm",
            "OPTIONS": REDIS_SOCKET_OPTIONS,
        }
    }
else:
    # Shared by web, worker and beat processes (a per-process LocMem cache would not be).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "KEY_PREFIX": "scrm",
        }
    }

# --- Celery -----------------------------------------------------------------------------------------------
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than any task may run (see the time limits), so an unacked task is not delivered twice.
        "visibility_timeout": 3600,
        **REDIS_SOCKET_OPTIONS,
    }
    CELERY_REDIS_BACKEND_HEALTH_CHECK_INTERVAL = 30
else:
    BROKER_DIR = VAR_DIR / "broker"
    for _sub in ("queue", "control", "processed"):
        (BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "polling_interval": 0.5,
    }
    (VAR_DIR / "celery-results").mkdir(exist_ok=True)
    CELERY_RESULT_BACKEND = f"file://{VAR_DIR / 'celery-results'}"

CELERY_TIMEZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
CELERY_TASK_DEFAULT_QUEUE = Queue.DEFAULT.value
# Declared so that a worker started without -Q consumes every queue, and purge/inspect see them all.
CELERY_TASK_QUEUES = [KombuQueue(queue.value, routing_key=queue.value) for queue in Queue]
# Which queue each task goes to, in one table (Celery deprecates the per-task "queue" attribute).
CELERY_TASK_ROUTES = {
    "scrm.wecom.tasks.full_sync": {"queue": Queue.SYNC.value},
    "scrm.wecom.tasks.refresh_*": {"queue": Queue.DEFAULT.value},  # detail reads after a callback: not urgent
    "scrm.wecom.tasks.*": {"queue": Queue.REALTIME.value},
    "scrm.core.tasks.*": {"queue": Queue.DEFAULT.value},
    "customers.tasks.import_followups": {"queue": Queue.SYNC.value},  # a million rows: with the bulky work
    "customers.tasks.*": {"queue": Queue.DEFAULT.value},
    # a segment of a hundred thousand customers, or every customer against every rule: with the bulky work
    "tagging.bulk_*": {"queue": Queue.SYNC.value},
    "tagging.rules_evaluate_all": {"queue": Queue.SYNC.value},
    "tagging.rule_evaluate": {"queue": Queue.SYNC.value},
    "tagging.*": {"queue": Queue.DEFAULT.value},
    "groups.welcome_send": {"queue": Queue.REALTIME.value},  # a welcome_code lapses 20 s after the add
    "groups.*": {"queue": Queue.DEFAULT.value},
}
CELERY_TASK_ACKS_LATE = True  # a task lost with its worker is redelivered; tasks are idempotent by design
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # one slow SOP batch must not hold back messages queued behind it
CELERY_TASK_SOFT_TIME_LIMIT = 600
CELERY_TASK_TIME_LIMIT = 900
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fixup otherwise closes the database connection around every task: one new PostgreSQL
# connection per callback event. CONN_MAX_AGE and health checks still bound a connection's life.
CELERY_DB_REUSE_MAX = 1000
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # keep our LOGGING (JSON, request ids) in workers too
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Each queue gets a heartbeat through beat → broker → worker, so /readyz shows whether beat and a worker
# for every queue are alive, and how far behind each queue runs.
HEARTBEAT_SECONDS = env.int("SCRM_HEARTBEAT_SECONDS", default=60)
CELERY_BEAT_SCHEDULE = {
    f"heartbeat-{queue.value}": {
        "task": "scrm.core.tasks.heartbeat",
        "schedule": float(HEARTBEAT_SECONDS),
        "kwargs": {"queue": queue.value},
        "options": {"queue": queue.value, "expires": HEARTBEAT_SECONDS},
    }
    for queue in Queue
}
CELERY_BEAT_SCHEDULE["wecom-nightly-sync"] = {
    "task": "scrm.wecom.tasks.full_sync",
    "schedule": crontab(hour=3, minute=15),  # in TIME_ZONE: quiet hours in China
}
CELERY_BEAT_SCHEDULE["tagging-wecom-pushes"] = {
    "task": "tagging.wecom_pushes_send",  # the mark_tag outbox: what the kick after commit missed, and retries
    "schedule": 30.0,
    "options": {"expires": 30},
}
CELERY_BEAT_SCHEDULE["tagging-taxonomy-push-due"] = {
    "task": "tagging.taxonomy_push_due",  # corp tag edits whose push was lost or is due for a retry
    "schedule": 60.0,
    "options": {"expires": 60},
}
CELERY_BEAT_SCHEDULE["tagging-rules-nightly"] = {
    "task": "tagging.rules_evaluate_all",
    "schedule": crontab(hour=4, minute=30),  # after the nightly WeCom sync, so rules see synced data
}
# Live codes: configurations WeCom has not taken yet (new, edited, or refused for a transient reason).
CELERY_BEAT_SCHEDULE["groups-codes-push"] = {
    "task": "groups.codes_push_due",
    "schedule": 60.0,
    "options": {"expires": 60},
}
CELERY_BEAT_SCHEDULE["groups-channel-codes-rota"] = {
    "task": "groups.channel_codes_rota",  # a new day: members who sat out at their daily limit rejoin the rota
    "schedule": crontab(hour=0, minute=0),
}
CELERY_BEAT_SCHEDULE["groups-group-codes-check"] = {
    "task": "groups.group_codes_check",  # a full group the member events missed moves its code on
    "schedule": 300.0,
    "options": {"expires": 300},
}
CELERY_BEAT_SCHEDULE["groups-stats-today"] = {
    "task": "groups.stats_rollup",  # today's figures so far, for the growth charts
    "schedule": crontab(minute="*/30"),
}
CELERY_BEAT_SCHEDULE["groups-stats-yesterday"] = {
    "task": "groups.stats_rollup",
    "schedule": crontab(hour=0, minute=20),
    "kwargs": {"days_ago": 1},  # yesterday, complete
}
CELERY_BEAT_SCHEDULE["wecom-inbox-retry"] = {
    "task": "scrm.wecom.tasks.retry_due_inbox_events",
    "schedule": 30.0,
    "options": {"expires": 30},
}

# --- Auth, i18n, time -------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every start if it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))

# --- Security (strict unless DEBUG; each can be relaxed by its variable) ---------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Preload is an opt-in submission to browser vendors, not something to assume for every deployment.
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=["security.W021"])

# --- REST API ---------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous request then gets 401 with WWW-Authenticate, not a bare 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "scrm.core.pagination.StandardPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "scrm.core.api_errors.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "SCRM API",
    "DESCRIPTION": "Private-domain SCRM for WeCom. Errors: {code, message, fields?, request_id}.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Served from our own static files: no CDN (blocked or slow in mainland China, absent offline).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # two models call a field "kind": name their enums apart
    "ENUM_NAME_OVERRIDES": {
        "TagKindEnum": "tagging.models.TagKind",
        "RuleKindEnum": "tagging.models.RuleKind",
        "CustomerGroupStatusEnum": "groups.models.CustomerGroup.Status",
        "GroupCodeStatusEnum": "groups.models.GroupCode.Status",
    },
}

# --- Logging ----------------------------------------------------------------------------------------------
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "scrm.core.logging.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "scrm.core.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
    },
}

# --- Product settings (DESIGN.md §4) ----------------------------------------------------------------------
WECOM_API_BASE_URL = env.str("WECOM_API_BASE_URL", default="https://qyapi.weixin.qq.com/cgi-bin/")
WECOM_CORP_ID = env.str("WECOM_CORP_ID", default="")
WECOM_CONTACT_SECRET = env.str("WECOM_CONTACT_SECRET", default="")
WECOM_AGENT_ID = env.str("WECOM_AGENT_ID", default="")
WECOM_AGENT_SECRET = env.str("WECOM_AGENT_SECRET", default="")
WECOM_CALLBACK_TOKEN = env.str("WECOM_CALLBACK_TOKEN", default="")
WECOM_CALLBACK_AES_KEY = env.str("WECOM_CALLBACK_AES_KEY", default="")
WECOM_ARCHIVE_SECRET = env.str("WECOM_ARCHIVE_SECRET", default="")  # 会话存档 secret
WECOM_HTTP_TIMEOUT = env.float("WECOM_HTTP_TIMEOUT", default=10.0)  # seconds, connect and read
# Client-side limit per corp and API, shared by every process (WeCom allows 10,000/min; keep a margin).
WECOM_RATE_LIMIT_PER_MINUTE = env.int("WECOM_RATE_LIMIT_PER_MINUTE", default=9000)
# Seconds a web process that found an inbox drain queued or running trusts it without asking Redis again (see
# scrm.wecom.services.inbox_kick); each drain waits as long before its last look.
WECOM_INBOX_KICK_MEMO = 0.5
SOP_MAX_PUSHES_PER_GROUP_PER_DAY = env.int("SOP_MAX_PUSHES_PER_GROUP_PER_DAY", default=3)
SOP_MAX_GROUPS_PER_BOT = env.int("SOP_MAX_GROUPS_PER_BOT", default=200)
