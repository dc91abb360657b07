#!/bin/sh
# Prometheus with logins both ways: it scrapes the workers and the API as user "prometheus" with
# WORKBENCH_METRICS_PASSWORD, and its own pages and API ask for PROMETHEUS_USER/PROMETHEUS_PASSWORD
# (a bcrypt hash in web.yml, made here so no hash of a real password lives in the repository).
set -eu
run=/tmp/prometheus
mkdir -p "$run"
cp /etc/workbench-prometheus/prometheus.yml /etc/workbench-prometheus/alerts.yml "$run/"
printf '%s' "$WORKBENCH_METRICS_PASSWORD" > "$run/metrics_password"
hash=$(htpasswd -nbBC 10 "" "$PROMETHEUS_PASSWORD" | tr -d ':\n')
printf 'basic_auth_users:\n  %s: %s\n' "${PROMETHEUS_USER:-workbench}" "$hash" > "$run/web.yml"
exec prometheus --config.file="$run/prometheus.yml" --web.config.file="$run/web.yml" \
  --storage.tsdb.path=/prometheus --storage.tsdb.retention.time=30d --web.listen-address=:9090
