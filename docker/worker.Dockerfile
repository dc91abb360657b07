# syntax=docker/dockerfile:1
# The Celery worker image: the same image serves the imagery worker and the torch worker, which
# differ only in their command (queues, pool). Build from the repository root:
#   docker build -f docker/worker.Dockerfile -t workbench-worker .                          # CPU
#   docker build -f docker/worker.Dockerfile --build-arg TORCH_VARIANT=gpu -t workbench-worker:gpu .
#
# TORCH_VARIANT=cpu|gpu picks the torch build, and that is all a GPU image needs. The base stays
# python:3.11-slim on purpose, not nvidia/cuda: PyPI's torch 2.14.1 wheel is the CUDA build and
# brings its own CUDA 13 runtime, cuDNN and NCCL as the nvidia-* wheels that requirements.lock already
# pins, so an nvidia/cuda base would be a second, unused copy of CUDA, and its Ubuntu has no
# Python 3.11. What the GPU variant needs from the host: an NVIDIA driver new enough for CUDA 13 and
# the NVIDIA Container Toolkit (docker/docker-compose.gpu.yaml asks Compose for the devices).
#
# Settings come from the environment at run time (WORKBENCH_*, see workbench/config.py); nothing
# secret is baked in.
FROM python:3.11-slim

# workers/ is not part of the installed distribution (pyproject packages only workbench*): it lives
# in /app, put on the path so that celery, its healthcheck and a shell all find it from any folder.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONPATH=/app \
    WORKBENCH_DATA_DIR=/data

# A fixed non-root user. /data is made here and owned by it because Docker seeds an empty named
# volume from the image's directory, ownership included: the shared data volume is then writable.
ARG WORKBENCH_UID=1000
RUN groupadd --gid "${WORKBENCH_UID}" workbench \
    && useradd --create-home --uid "${WORKBENCH_UID}" --gid "${WORKBENCH_UID}" --shell /bin/bash workbench \
    && mkdir -p /data /app \
    && chown -R workbench:workbench /data /app

# torch first, in its own layer: the largest dependency and the one that changes least.
#   cpu: with TORCH_CPU_INDEX_URL set to PyTorch's CPU wheel index, the CPU build of the locked
#        version (PEP 440: `torch==2.14.1` in the lock is satisfied by the local version
#        `2.14.1+cpu`), a few hundred MB instead of several GB; without it, PyPI's build, which
#        runs on the CPU as well.
#   gpu: exactly what the lock resolved: PyPI's CUDA build and its nvidia-* wheels.
ARG TORCH_VARIANT=cpu
ARG TORCH_CPU_INDEX_URL=""
COPY requirements.lock /tmp/requirements.lock
# ${index} is unquoted on purpose below: it stands for zero or several options.
# hadolint ignore=SC2086
RUN set -eu; \
    case "${TORCH_VARIANT}" in \
      cpu) index="${TORCH_CPU_INDEX_URL:+--extra-index-url ${TORCH_CPU_INDEX_URL}}" ;; \
      gpu) index="" ;; \
      *) echo "TORCH_VARIANT must be cpu or gpu, not '${TORCH_VARIANT}'" >&2; exit 1 ;; \
    esac; \
    pip install -c /tmp/requirements.lock ${index} torch torchvision

# TEMPORARY: Celery is not a dependency in pyproject.toml yet; it moves there (and into
# requirements.lock) with the jobs issue. Pinned here meanwhile. 5.6.3, not 5.7.0: celery 5.7.0
# requires python-dateutil==2.9.0.post0, which conflicts with the lock's python-dateutil 4.0.0.
# The redis extra is the client for the result backend; the AMQP client comes with kombu.
# hadolint ignore=DL3059
RUN pip install -c /tmp/requirements.lock 'celery[redis]==5.6.3'

# The project, non-editable, from the lock. The whole context is copied (.dockerignore trims it) so
# the build does not depend on which optional folders a checkout has; only workers/ is kept.
COPY . /src
RUN pip install -c /src/requirements.lock /src \
    && if [ -d /src/workers ]; then cp -a /src/workers /app/workers; fi \
    && if [ -d /src/notebooks/reports ]; then mkdir -p /app/notebooks && cp -a /src/notebooks/reports /app/notebooks/; fi \
    && chown -R workbench:workbench /app \
    && rm -rf /src /tmp/requirements.lock

# Numeric, so that a runtime can verify it is not root (e.g. Kubernetes' runAsNonRoot).
USER ${WORKBENCH_UID}:${WORKBENCH_UID}
WORKDIR /app
VOLUME ["/data"]

# The imagery worker; docker-compose.yaml gives the torch worker its own queues and pool.
CMD ["celery", "-A", "workers.app", "worker", "--queues", "imagery", "--hostname", "imagery@%h", "-E", "--loglevel", "INFO"]
