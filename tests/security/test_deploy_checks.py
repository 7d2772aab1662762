"""The production configuration of docs/operations.md passes `manage.py check --deploy` with
nothing to report, and the settings refuse what production must not run with."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.conf import settings

# docs/operations.md, "Security": the environment of a production web process.
PRODUCTION_ENV = {
    "TENSAFE_PRODUCTION": "1",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "ir.tensafe.io",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://ir.tensafe.io",
    "TENSAFE_PUBLIC_BASE_URL": "https://ir.tensafe.io",
    "TENSAFE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "TENSAFE_TRUSTED_PROXY_COUNT": "1",
    "TENSAFE_CACHE_URL": "redis://127.0.0.1:6379/1",
}
# Variables of the machine that would change what is checked.
CLEARED = (
    "DJANGO_DEBUG",
    "TENSAFE_HTTPS",
    "TENSAFE_SSL_REDIRECT",
    "TENSAFE_SECURE_COOKIES",
    "TENSAFE_CACHE_URL",
)


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in CLEARED}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=Path(settings.BASE_DIR),
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_configuration_passes_check_deploy():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_names_what_development_settings_lack():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", DJANGO_SECRET_KEY="")
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W009", "security.W012"):
        assert check in result.stderr, check
    # Rate-limit counters are shared through the database without a cache: nothing to warn.
    assert "tensafe.W001" not in result.stderr


def test_production_refuses_a_missing_or_weak_secret_key():
    for key, message in (
        ("", "DJANGO_SECRET_KEY must be set in production"),
        ("short-key", "at least 50 characters"),
    ):
        result = _manage("check", **{**PRODUCTION_ENV, "DJANGO_SECRET_KEY": key})
        assert result.returncode != 0
        assert message in result.stderr


def test_bad_cache_url_is_refused_by_name():
    result = _manage("check", TENSAFE_CACHE_URL="memcached://127.0.0.1")
    assert result.returncode != 0
    assert "TENSAFE_CACHE_URL='memcached://127.0.0.1' is not a Redis URL" in result.stderr
