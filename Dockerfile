# Two images from one Dockerfile (see docker-compose.yml):
#   docker build --target web .     → gunicorn, no TensorFlow (the default, last stage)
#   docker build --target worker .  → run_model_worker, with TensorFlow and the model weights
# The worker builds on the web's installed packages, so they are downloaded once.
# Behind a TLS-inspecting proxy, hand pip the CA bundle your host trusts as a build secret
# (never part of an image):
#   docker build --secret id=pip_cert,src=/etc/ssl/certs/ca-certificates.crt --target web .
# Without it pip uses its own CA list. deploy/ci/compose-smoke.sh builds both this way.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY requirements/web.txt requirements/web.txt
RUN --mount=type=secret,id=pip_cert \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    pip install -r requirements/web.txt

FROM base AS worker
ENV KERAS_HOME=/var/cache/keras \
    MODEL_CACHE_DIR=/var/cache/models
COPY requirements/worker.txt requirements/worker.txt
RUN --mount=type=secret,id=pip_cert \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    pip install -r requirements/worker.txt
COPY . .
CMD ["python", "manage.py", "run_model_worker"]

FROM base AS web
COPY . .
# Static files are collected at build time; a throwaway key is enough for that step.
RUN SECRET_KEY=build-only ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput -v 0

# gunicorn's settings live in gunicorn.conf.py; only the address differs in a container.
# It is meant to sit behind nginx (deploy/nginx/, docker-compose's nginx service).
EXPOSE 8000
CMD ["gunicorn", "--config", "gunicorn.conf.py", "config.wsgi:application", "--bind", "0.0.0.0:8000"]
