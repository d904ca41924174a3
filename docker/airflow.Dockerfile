# Airflow (the version the integration tests run) with this project installed: alerts_lib for the
# callbacks, fastapi_app.registry for the DAGs. dags/ is mounted by docker-compose.yaml, not copied.
ARG AIRFLOW_VERSION=3.3.2
FROM apache/airflow:${AIRFLOW_VERSION}
ARG AIRFLOW_VERSION
# The spool shared with the model service (docker/service.Dockerfile): same uid 50000, gid 0, mode 0700.
USER root
RUN mkdir -p /spool && chown 50000:0 /spool && chmod 0700 /spool
USER 50000:0
COPY --chown=airflow:0 pyproject.toml README.md /opt/alerts_lib/
COPY --chown=airflow:0 alerts_lib /opt/alerts_lib/alerts_lib
COPY --chown=airflow:0 apps/pyproject.toml /opt/alerts_lib/apps/
COPY --chown=airflow:0 apps/fastapi_app /opt/alerts_lib/apps/fastapi_app
COPY --chown=airflow:0 apps/inbox /opt/alerts_lib/apps/inbox
COPY --chown=airflow:0 apps/demo /opt/alerts_lib/apps/demo
# Pinning apache-airflow in the same command keeps pip from up- or downgrading Airflow itself.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" /opt/alerts_lib /opt/alerts_lib/apps
