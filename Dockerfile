# syntax=docker/dockerfile:1
#
# One image for the five services (the dashboard, admin, among them) and the command line. The command picks what runs:
#
#   docker run IMAGE                       -> shop serve gateway (the default CMD)
#   docker run IMAGE serve products        -> shop serve products
#   docker run IMAGE serve admin           -> shop serve admin (the dashboard)
#   docker run IMAGE migrate               -> shop migrate (all three databases)
#
# Nothing secret is baked in: every setting comes from the environment at run time
# (docs/configuration.md, docs/deployment.md). No .env file is copied (.dockerignore).

# The base image, pinned by digest: a tag such as 3.11-slim is re-pointed at every
# rebuild upstream, a digest never is, so each build starts from the same bytes.
# This one is python:3.11-slim (Debian trixie, multi-arch index) as pushed 2026-08-16.
# To bump it (a Python patch release, Debian security fixes), resolve the tag's current
# index digest with
#   docker buildx imagetools inspect python:3.11-slim      (the "Digest:" line)
# or `docker pull python:3.11-slim`, put it below, rebuild, and run `make test`.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# --- builder: the locked requirements and the package, in a virtual environment -----
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never

WORKDIR /src
# Every file installed is checked against a hash of a lock (--require-hashes): a
# tampered or substituted download fails the build. First the tools: uv (the
# Makefile's UV_VERSION) and the build backend, so no unpinned build dependency is
# fetched either.
COPY requirements-build.lock ./
RUN pip install --require-hashes --no-deps -r requirements-build.lock \
 && uv venv --python /usr/local/bin/python3 /opt/venv

# The dependencies: this layer is rebuilt only when the lock file changes. Only the
# runtime: the embedded PostgreSQL and Redis (extra shop[embedded]) stay out.
COPY requirements.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --python /opt/venv/bin/python --require-hashes -r requirements.lock

# Then the package itself (not editable: the final stage gets no source tree), built
# with the locked backend above rather than one fetched for the build.
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/dist . \
 && uv pip install --python /opt/venv/bin/python --no-deps /tmp/dist/*.whl

# --- final: the virtual environment and nothing else ---------------------------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="shop" \
      org.opencontainers.image.description="Shop backend: gateway, auth, products, orders and the admin dashboard"

# A fixed numeric user, so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 shop \
 && useradd --system --uid 10001 --gid shop --home-dir /app --shell /usr/sbin/nologin shop \
 && mkdir -p /app /var/lib/shop \
 && chown shop:shop /app /var/lib/shop

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SHOP_DATA_DIR=/var/lib/shop \
    BIND_HOST=0.0.0.0 \
    LOG_FORMAT=json

WORKDIR /app
USER 10001:10001

# The ports of gateway, auth, products, orders and admin (GATEWAY_PORT, AUTH_PORT, ...).
EXPOSE 3000 3001 3002 3003 3004

# Liveness of whichever service PID 1 serves, on its *_PORT (default ports otherwise).
# A container running another command (`shop migrate` ...) counts as healthy.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os,sys,urllib.request as u; a=open('/proc/1/cmdline','rb').read().decode().split('\\0'); s=a[a.index('serve')+1] if 'serve' in a else sys.exit(0); p=os.environ.get(s.upper()+'_PORT',{'gateway':'3000','auth':'3001','products':'3002','orders':'3003','admin':'3004'}[s]); u.urlopen('http://127.0.0.1:'+p+'/health/live',timeout=4)"]

ENTRYPOINT ["shop"]
CMD ["serve", "gateway"]
