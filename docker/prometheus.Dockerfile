# syntax=docker/dockerfile:1
# Prometheus from Debian (2.42, the version CI checks the configuration with), with the
# scrape config and alert rules of docker/prometheus/. Build from the repository root:
#   docker build -f docker/prometheus.Dockerfile -t workbench-prometheus .
# Passwords come from the environment at run time (start.sh); nothing secret is baked in.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends prometheus apache2-utils \
    && rm -rf /var/lib/apt/lists/*
COPY docker/prometheus/ /etc/workbench-prometheus/
USER prometheus
ENTRYPOINT ["/etc/workbench-prometheus/start.sh"]
