# sourcewatch: one image, one process per container (the command picks it: api, ingest, ...).
#   docker build -t sourcewatch .
#   docker run --env-file deploy/.env sourcewatch api

# The portal's charting library (uPlot), pinned by api/portal/package-lock.json: bundled into the
# image, never fetched from a CDN at run time.
FROM node:22-slim AS portal-assets
WORKDIR /build
COPY api/portal/package.json api/portal/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SOURCEWATCH_API_HOST=0.0.0.0 \
    SOURCEWATCH_API_PORT=8000 \
    SOURCEWATCH_GATEWAY_HOST=0.0.0.0

RUN groupadd --system --gid 10001 sourcewatch \
 && useradd --system --uid 10001 --gid sourcewatch --home-dir /app --shell /usr/sbin/nologin sourcewatch

WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY ingest ./ingest
COPY api ./api
COPY --from=portal-assets /build/node_modules/uplot/dist/uPlot.iife.min.js \
     /build/node_modules/uplot/dist/uPlot.min.css ./api/portal/node_modules/uplot/dist/
COPY alerts ./alerts
COPY sourcewatch ./sourcewatch
# No extras: the runtime dependencies only (no test or lint tools).
RUN pip install --no-compile . \
 && rm -rf /root/.cache

# The publication log's signing key and the record of the roots it signed (the alerts
# process): a volume mounted here keeps them (compose: `signing`, Kubernetes: a PVC).
RUN mkdir -p /var/lib/sourcewatch && chown 10001:10001 /var/lib/sourcewatch && chmod 0700 /var/lib/sourcewatch

USER 10001:10001
EXPOSE 8000 9212

# Probes the API; for the other processes (ingest, alerts, gateway, migrate) compose and
# Kubernetes turn it off or replace it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SOURCEWATCH_API_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["sourcewatch"]
CMD ["api"]
