# One image for the web and worker services (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    KERAS_HOME=/var/cache/keras \
    MODEL_CACHE_DIR=/var/cache/models

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# Static files are collected at build time; a throwaway key is enough for that step.
RUN SECRET_KEY=build-only ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput -v 0

# gunicorn's settings live in gunicorn.conf.py; only the address differs in a container.
# It is meant to sit behind nginx (deploy/nginx/, docker-compose's nginx service).
EXPOSE 8000
CMD ["gunicorn", "--config", "gunicorn.conf.py", "config.wsgi:application", "--bind", "0.0.0.0:8000"]
