# hakuna-sim as a container: the simulated Hakuna API on port 8765.
#   docker build -t hakuna-sim .
#   docker run --rm -p 8765:8765 hakuna-sim
# Every `hakuna-sim serve` flag can be set with an environment variable instead:
#   docker run --rm -p 8765:8765 -e HAKUNA_SIM_STRICT=1 -e HAKUNA_SIM_SEED=7 hakuna-sim
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package is built from (.dockerignore keeps the rest out), installed as a
# plain, non-editable package: schemas/ and fixtures/ ship inside it.
WORKDIR /build
COPY pyproject.toml README.md ./
COPY simulator ./simulator
COPY contract_tests ./contract_tests
COPY schemas ./schemas
COPY fixtures ./fixtures
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 --user-group hakuna \
    && mkdir /data && chown 10001:10001 /data

# Where a state file lives when one is asked for (-e HAKUNA_SIM_STATE=/data/state.db
# with a volume on /data): every key then survives the container's restarts.
VOLUME /data

USER 10001:10001
WORKDIR /home/hakuna

# Reachable from outside the container; the port is the one the README uses.
ENV HAKUNA_SIM_HOST=0.0.0.0 \
    HAKUNA_SIM_PORT=8765
EXPOSE 8765

# Python's own urllib, so the image needs no curl; it follows HAKUNA_SIM_PORT.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HAKUNA_SIM_PORT', '8765'), timeout=2)"]

# SIGTERM (docker stop) ends the server cleanly within 3 seconds.
CMD ["hakuna-sim", "serve"]
