# syntax=docker/dockerfile:1
# sor-daemon as a container image (Docker with BuildKit, or podman/buildah):
#
#   docker build -t sor-daemon .
#   docker run --rm sor-daemon demo          # simulated venues + daemon + demo flow, exit 0
#   docker run --rm sor-daemon --help
#   docker run -d --name sor -p 9878:9878 -v /srv/sor/etc:/etc/sor-daemon:ro sor-daemon
#
# Two stages: the builder compiles quickfix (C++, about 6 minutes on 2 cores the first
# time, then pip's cache serves it) and builds wheels of the project and every
# dependency; the runtime stage has the interpreter and those wheels installed into
# /opt/sor-daemon, mounted from the builder for the install (never a layer of their own).
# The daemon runs as the unprivileged user `sor` (uid and gid 10001), keeps its state
# (journal, FIX session store, audit trail, records) under /var/lib/sor-daemon and reads
# /etc/sor-daemon, where the shipped configs are the defaults (mount your own over it).

# Any Debian bookworm-like base with apt: python3 comes from its packages.
ARG BASE=docker.io/library/debian:bookworm-slim

FROM ${BASE} AS builder
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv python3-dev g++ make ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md /src/
COPY sor_daemon /src/sor_daemon
COPY sor_sim /src/sor_sim
# Where pip caches what it builds (the quickfix wheel above all): a BuildKit cache mount
# by default; a build can bind another cache there instead (.ci/image mounts the host's).
ARG PIP_CACHE_DIR=/root/.cache/pip
# A CA bundle for the package index, for a build behind a TLS-inspecting proxy: a path
# the build mounts (never copied into the image). Empty: the system's.
ARG PIP_CERT=
RUN --mount=type=cache,target=/root/.cache/pip \
    set -eu; [ -n "$PIP_CERT" ] || unset PIP_CERT; \
    python3 -m venv /opt/build \
 && /opt/build/bin/pip install --disable-pip-version-check --upgrade pip wheel \
 && /opt/build/bin/pip wheel --disable-pip-version-check --wheel-dir /wheels /src pip

FROM ${BASE} AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv libstdc++6 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sor \
 && useradd --system --uid 10001 --gid sor --home-dir /var/lib/sor-daemon --no-create-home \
      --shell /usr/sbin/nologin sor
# pip runs from its own wheel: the virtualenv gets no pip, and no wheel stays behind.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python3 -m venv --without-pip /opt/sor-daemon \
 && /opt/sor-daemon/bin/python "$(echo /wheels/pip-*.whl)/pip" install --no-index \
      --no-cache-dir --disable-pip-version-check --find-links /wheels sor-daemon \
 && /opt/sor-daemon/bin/python -m compileall -q /opt/sor-daemon/lib
COPY --chown=root:sor config/ /etc/sor-daemon/
COPY README.md /opt/sor-daemon/share/doc/sor-daemon/README.md
RUN chmod -R u=rwX,g=rX,o= /etc/sor-daemon \
 && install -d -o sor -g sor -m 0750 /var/lib/sor-daemon

ENV PATH=/opt/sor-daemon/bin:$PATH \
    SOR_CONFIG=/etc/sor-daemon/sor.toml \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER sor
WORKDIR /var/lib/sor-daemon
VOLUME /var/lib/sor-daemon
# The OMS's FIX acceptor and the Prometheus endpoint (the shipped config keeps metrics on
# the container's loopback: set [metrics] host = "0.0.0.0" to publish it).
EXPOSE 9878 9464
# /metrics answers: the daemon is up (at the address and port of $SOR_CONFIG).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-I", "-m", "sor_daemon.tools.healthcheck"]
ENTRYPOINT ["sor-daemon"]
CMD ["run", "--config", "/etc/sor-daemon/sor.toml"]
