# syntax=docker/dockerfile:1
# starkrelay (and starksandbox) in one image.
#
#   docker build -t starkrelay:v0.1.0 .
#   docker run --env-file .env -p 127.0.0.1:8000:8000 starkrelay:v0.1.0
#
# The default command is `starkrelay serve` (API, scheduler and forwarding worker in one
# process); run `starkrelay api` and `starkrelay worker` as separate containers to scale them
# apart. Nothing secret is baked in: every setting comes from the environment at run time.
# Pin the base image by digest for reproducible builds:
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest> .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: a virtual environment with the locked runtime dependencies and the project ----------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /build
RUN python -m venv /opt/starkrelay

# Dependencies first (a layer that changes only with the lock): the runtime requirements of
# pyproject.toml and what they pull in, every file checked against its sha256 in
# requirements-runtime.lock (scripts/lock writes it with the same pins as requirements.lock,
# without the development tools: pytest, ruff, mypy are not installed).
COPY pyproject.toml requirements-runtime.lock ./
RUN /opt/starkrelay/bin/pip install --require-hashes --requirement requirements-runtime.lock

# Then the project itself, without touching the dependencies installed above: a wheel built
# without build isolation by pip and hatchling from requirements-build.lock (hash-checked too),
# in a venv of their own so that neither ships in the image.
COPY requirements-build.lock README.md ./
COPY src ./src
RUN python -m venv /opt/build-tools \
 && /opt/build-tools/bin/pip install --require-hashes --requirement requirements-build.lock \
 && /opt/build-tools/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /build/wheels . \
 && /opt/starkrelay/bin/pip install --no-deps /build/wheels/*.whl \
 && /opt/starkrelay/bin/pip check

# ---- runtime: the virtual environment only, run as an unprivileged user -------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="starkrelay" \
      org.opencontainers.image.description="Issues Stark Bank invoices and forwards every credited payment exactly once"

ENV PATH=/opt/starkrelay/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN groupadd --system --gid 10001 starkrelay \
 && useradd --system --uid 10001 --gid starkrelay --home-dir /var/lib/starkrelay \
        --shell /usr/sbin/nologin starkrelay \
 && mkdir -p /var/lib/starkrelay/keys \
 && chown -R starkrelay:starkrelay /var/lib/starkrelay

COPY --from=build /opt/starkrelay /opt/starkrelay

WORKDIR /var/lib/starkrelay
USER 10001:10001
EXPOSE 8000

# Liveness: /health of the API (127.0.0.1:8000) or, in a `starkrelay worker` container, of the
# worker (WORKER_METRICS_PORT, 8001). It fails when a background part died or stopped
# beating; the process also exits non-zero then, so a restart policy brings it back.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-m", "starkrelay.probe"]

CMD ["starkrelay", "serve", "--host", "0.0.0.0", "--port", "8000"]
