# Prometheus Alertmanager with alerts_lib's config and Slack template (deploy/alertmanager/), port 9093.
# Debian bookworm's package (python:3.11-slim is bookworm), so the image builds from the Debian archive alone.
# Build context: the repository root. One replica by default; for a peered pair, override the command, e.g.
#   --cluster.listen-address=0.0.0.0:9094 --cluster.peer=alertmanager-1:9094
FROM python:3.11-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus-alertmanager \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /etc/alertmanager/templates /alertmanager \
    && chown prometheus:prometheus /alertmanager
COPY deploy/alertmanager/alertmanager.yml /etc/alertmanager/alertmanager.yml
COPY deploy/alertmanager/slack.tmpl /etc/alertmanager/templates/slack.tmpl
USER prometheus
EXPOSE 9093
VOLUME ["/alertmanager"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9093/-/healthy', timeout=2)"]
ENTRYPOINT ["prometheus-alertmanager", "--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]
CMD ["--web.listen-address=:9093", "--cluster.listen-address="]
