# syntax=docker/dockerfile:1
# One image for JupyterLab and the Voila dashboard; docker-compose.yaml runs it twice with different
# commands. Build from the repository root:
#   docker build -f docker/notebook.Dockerfile -t workbench-notebook .
#
# Settings come from the environment at run time (WORKBENCH_DATABASE_URL, WORKBENCH_BROKER_URL,
# WORKBENCH_RESULT_BACKEND, WORKBENCH_DATA_DIR, WORKBENCH_USER: see workbench/config.py). Nothing
# secret is baked in: no ENV or ARG here carries a credential, and .dockerignore keeps .env out.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    WORKBENCH_DATA_DIR=/data

# A fixed non-root user. When you bind-mount ./notebooks (docker-compose.yaml does for JupyterLab),
# build with your own uid so JupyterLab can save there: `WORKBENCH_UID=$(id -u) docker-compose build`.
# /data is made here and owned by the user because Docker seeds an empty named volume from the
# image's directory, ownership included: the shared data volume mounted there is then writable.
ARG WORKBENCH_UID=1000
RUN groupadd --gid "${WORKBENCH_UID}" workbench \
    && useradd --create-home --uid "${WORKBENCH_UID}" --gid "${WORKBENCH_UID}" --shell /bin/bash workbench \
    && mkdir -p /data /app/notebooks \
    && chown -R workbench:workbench /data /app

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

# TEMPORARY: JupyterLab and Voila are not dependencies in pyproject.toml yet. Pinned here until
# they move there (and into requirements.lock); installed under the lock's constraints so they get
# the same ipywidgets, IPython and traitlets as the library.
# hadolint ignore=DL3059
RUN pip install -c /tmp/requirements.lock jupyterlab==4.6.6 voila==0.5.13

# The project, non-editable, from the lock. The whole context is copied (.dockerignore trims it) so
# the build does not depend on which optional folders a checkout has; only notebooks/ is kept.
COPY . /src
RUN pip install -c /src/requirements.lock /src \
    && if [ -d /src/notebooks ]; then cp -a /src/notebooks/. /app/notebooks/; fi \
    && chown -R workbench:workbench /app \
    && rm -rf /src /tmp/requirements.lock

# Numeric, so that a runtime can verify it is not root (e.g. Kubernetes' runAsNonRoot).
USER ${WORKBENCH_UID}:${WORKBENCH_UID}
WORKDIR /app/notebooks
VOLUME ["/data"]
EXPOSE 8888 8866

# JupyterLab by default; docker-compose.yaml overrides the command for Voila. JupyterLab takes its
# token from JUPYTER_TOKEN when set, else it generates one and prints the login URL in its log.
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "--ServerApp.root_dir=/app/notebooks"]
