# syntax=docker/dockerfile:1
# The team server: JupyterHub (`workbench hub`), which starts each person's JupyterLab, with the
# dashboard as a Voila page beside it, as their own Linux account in this container. It runs as
# root for that reason (LocalProcessSpawner switches to each person's account). Build from the
# repository root:
#   docker build -f docker/hub.Dockerfile -t workbench-hub .
#
# Settings come from the environment at run time (WORKBENCH_HUB_*: workbench/hub/settings.py; the
# shared services' WORKBENCH_*, handed on to each person's server). Nothing secret is baked in: no
# ENV or ARG here carries a credential, and .dockerignore keeps .env out.

# The hub's proxy, configurable-http-proxy, from hub/package-lock.json on Node 20 (Debian's is older).
FROM node:20-bookworm-slim AS proxy
COPY hub/package.json hub/package-lock.json /hub/
RUN npm ci --prefix /hub --omit=dev --no-audit --no-fund

FROM python:3.11-slim
COPY --from=proxy /usr/local/bin/node /usr/local/bin/node
COPY --from=proxy /hub/node_modules /opt/hub/node_modules

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    WORKBENCH_DATA_DIR=/data

# Each person's account is made by the hub at their first start, their home in /home (a volume).
RUN mkdir -p /data /app/notebooks /srv/hub

# torch first, in its own layer: it is the largest dependency and the one that changes least.
# The notebook kernel never trains in the distributed setup (the workers do), so it needs only a
# CPU build: set TORCH_CPU_INDEX_URL to PyTorch's CPU wheel index for one a few hundred MB in size
# instead of PyPI's CUDA build (several GB). PEP 440: the lock's `torch==2.14.1` is satisfied by
# the local version `2.14.1+cpu`.
ARG TORCH_CPU_INDEX_URL=""
COPY requirements.lock /tmp/requirements.lock
# hadolint ignore=SC2086
RUN pip install -c /tmp/requirements.lock \
        ${TORCH_CPU_INDEX_URL:+--extra-index-url ${TORCH_CPU_INDEX_URL}} torch torchvision

# The project, non-editable, from the lock. The whole context is copied (.dockerignore trims it) so
# the build does not depend on which optional folders a checkout has; only notebooks/ is kept.
COPY . /src
RUN pip install -c /src/requirements.lock /src \
    && if [ -d /src/notebooks ]; then cp -a /src/notebooks/. /app/notebooks/; fi \
    && rm -rf /src /tmp/requirements.lock

ENV WORKBENCH_HUB_PROXY=/opt/hub/node_modules/.bin/configurable-http-proxy \
    WORKBENCH_HUB_DASHBOARD=/app/notebooks/dashboard.ipynb \
    WORKBENCH_HUB_STATE=/srv/hub \
    WORKBENCH_HUB_IP=0.0.0.0
WORKDIR /srv/hub
EXPOSE 8000

# Root on purpose (see the top). The people's servers run as their own accounts.
CMD ["workbench", "hub"]
