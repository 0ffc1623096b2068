# syntax=docker/dockerfile:1.7
# Scoring service image: onnxruntime + FastAPI, no scikit-learn, no compilers.
# Build from the repository root:  docker build -f docker/scoring.Dockerfile -t driftloop-scoring .
# What it installs is listed in docker/images/scoring.txt and installed by docker/install.py, the same
# files and command that `make images-check` runs in a fresh virtualenv on every CI run.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first, from the pyproject files alone: this layer survives code edits.
COPY docker/install.py docker/
COPY docker/images/scoring.txt docker/images/
COPY services/common/pyproject.toml services/common/
COPY services/scoring/pyproject.toml services/scoring/
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/venv/bin/python docker/install.py deps docker/images/scoring.txt
COPY services/common/ services/common/
COPY services/scoring/ services/scoring/
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/venv/bin/python docker/install.py code docker/images/scoring.txt \
    && /opt/venv/bin/python -m pip uninstall --yes pip

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/driftloop/driftloop
LABEL org.opencontainers.image.title="driftloop-scoring" \
      org.opencontainers.image.description="driftloop scoring service: ONNX inference over REST and the Open Inference Protocol" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
# Writable state lives under /var/lib/driftloop (registry, spill file) and /tmp, both volumes, so the
# container runs with a read-only root filesystem; bytecode was compiled at install time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DRIFTLOOP_HOST=0.0.0.0 \
    DRIFTLOOP_PORT=8080 \
    DRIFTLOOP_GRPC_PORT=8001 \
    DRIFTLOOP_REGISTRY__PATH=/var/lib/driftloop/registry \
    DRIFTLOOP_BUS__SPILL_PATH=/var/lib/driftloop/spill
RUN groupadd --system --gid 10001 driftloop \
    && useradd --system --uid 10001 --gid driftloop --home-dir /var/lib/driftloop --shell /usr/sbin/nologin driftloop \
    && install -d -o 10001 -g 10001 /var/lib/driftloop /var/lib/driftloop/registry /var/lib/driftloop/spill
COPY --from=build /opt/venv /opt/venv
COPY docker/healthcheck.py /usr/local/lib/driftloop/healthcheck.py
WORKDIR /var/lib/driftloop
VOLUME ["/var/lib/driftloop", "/tmp"]
USER 10001:10001
# HTTP (REST and V2), and the Open Inference Protocol over gRPC.
EXPOSE 8080 8001
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/usr/local/lib/driftloop/healthcheck.py", "/v2/health/live"]
ENTRYPOINT ["python", "-m", "driftloop_scoring"]
