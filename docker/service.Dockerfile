# The project's Python services, one image per target:
#   inbox   - the local Slack-like webhook inbox (python -m inbox), port 8025
#   fastapi - the model service (python -m fastapi_app), port 8000, seeding an empty registry first
# Build context: the repository root (see docker-compose.yaml).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY alerts_lib ./alerts_lib
COPY apps/pyproject.toml ./apps/
COPY apps/fastapi_app ./apps/fastapi_app
COPY apps/inbox ./apps/inbox
COPY apps/demo ./apps/demo
# uid 50000 / gid 0 like the Airflow image, so both can write the shared registry volume and share the
# spool (a 0700 directory: only that uid may read the queued alerts). An empty named volume takes these
# owners and modes the first time it is mounted.
RUN pip install . ./apps \
    && useradd --uid 50000 --gid 0 --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /registry /spool \
    && chown 50000:0 /registry /spool \
    && chmod 2775 /registry \
    && chmod 0700 /spool
WORKDIR /app
USER 50000:0

FROM base AS inbox
ENV INBOX_HOST=0.0.0.0 \
    INBOX_PORT=8025
EXPOSE 8025
CMD ["python", "-m", "inbox"]

FROM base AS fastapi
ENV HOST=0.0.0.0 \
    PORT=8000 \
    MODEL_REGISTRY_DIR=/registry
EXPOSE 8000
VOLUME ["/registry"]
CMD ["sh", "-c", "python -m demo.seed && exec python -m fastapi_app"]
