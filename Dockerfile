# TenSafe IR image: one image for web (default CMD), worker and beat (see compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Shared libraries and a font for WeasyPrint's PIR PDF export.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 --user-group tensafe
WORKDIR /app

# Dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
# Editable, so tensafe_ir is imported from /app and BASE_DIR (templates/, static/, var/) is
# /app for every process, whatever its working directory or entry point.
RUN pip install --no-deps -e . \
    && python manage.py collectstatic --noinput --verbosity 0 \
    && chown -R tensafe:tensafe /app/var

USER tensafe
EXPOSE 8000
# /metrics adds up the web processes' request counts from files in a directory emptied at
# each start (integrations/metrics.py).
CMD ["sh", "-c", "rm -rf /tmp/prometheus && mkdir -p /tmp/prometheus && PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus exec gunicorn tensafe_ir.wsgi --bind 0.0.0.0:8000 --workers 2 --worker-class tensafe_ir.web.BalancedThreadWorker --threads 4 --access-logfile - --logger-class tensafe_ir.logs.GunicornLogger"]
