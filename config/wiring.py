"""The project's Django wiring that no deployment changes: apps, middleware, URLs,
templates, password rules, the API schema's settings and the Content-Security-Policy.

Nothing here reads the environment; config/settings.py imports these and adds every setting
that does (DJANGO_SETTINGS_MODULE stays config.settings).
"""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

INSTALLED_APPS = [
    "config.admin_site.ProductAdminConfig",  # Django's admin, with our pages in its index
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served locally, no CDN
    "csp",  # Content-Security-Policy header (CONTENT_SECURITY_POLICY below)
    "django_rq",
    "accounts",
    "registry",
    "classifier",
    "feedback",
    "quality",
    "training",
    "mlworker",
    "ops",
    "monitoring",
]

MIDDLEWARE = [
    # Request counts and latency for /metrics (django-prometheus): first and last.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Outermost: any 4xx on an API route that Django answered in HTML becomes JSON `detail`.
    "config.middleware.ApiErrorShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    # A body declared larger than the upload limit is refused (413) before it is read.
    "config.middleware.RequestSizeLimitMiddleware",
    # A login redirect's `next` stays short (a long one would overflow nginx's header buffer).
    "config.middleware.LoginRedirectLengthMiddleware",
    # A NUL in the query string is a 400: PostgreSQL text cannot hold it, so the query would fail.
    "config.middleware.NulInQueryMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language comes from the language switch's cookie, else Accept-Language (en, es).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Database or Redis unreachable: a 503 page with a message instead of a 500.
    "config.middleware.ServiceUnavailableMiddleware",
    # A login refused by the failed-login limits (any door) is a 429 with Retry-After.
    "config.middleware.LoginLockoutMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SPECTACULAR_SETTINGS = {
    "TITLE": "Image classifier API",
    "DESCRIPTION": "Upload photos, get ImageNet labels, give feedback.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A field that refuses "" says so (minLength 1): clients and schemathesis see the rule.
    "ENFORCE_NON_BLANK_FIELDS": True,
}

# Content-Security-Policy on every answer: scripts and styles only from our own static
# files (no inline script or style anywhere: templates load static/js/*, static/css/*),
# images also from data: (Swagger UI's icons) and blob: (the upload preview).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
