# syntax=docker/dockerfile:1
# Multi-stage build of the service: CPU-only torch, non-root user, model store baked in at /models
# (docker-compose mounts ./model_store/models over it). Mirrors `make run`.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# CPU wheels of the same torch/torchvision pair that constraints.txt pins (a few hundred MB, not GBs)
COPY constraints.txt docker/requirements-torch-cpu.txt ./
RUN pip install --index-url https://download.pytorch.org/whl/cpu -r requirements-torch-cpu.txt
COPY pyproject.toml README.md LICENSE ./
COPY model_store model_store
COPY app app
COPY training training
# the optional readers (ImagCDF, miniSEED) and the fast inference path (ONNX Runtime) are part of the service image
RUN pip install -c constraints.txt '.[cdf,mseed,fast]'

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 precursor
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    OMP_NUM_THREADS=2 \
    PRECURSOR_MODEL_STORE=/models \
    PRECURSOR_STATION_STORE=/stations \
    PORT=8000
# SIGTERM drains in-flight requests for PRECURSOR_SHUTDOWN_TIMEOUT_S (15 s): give `docker stop` longer
# (`docker stop -t 20`; the compose file sets stop_grace_period).
STOPSIGNAL SIGTERM
COPY --chown=precursor:precursor model_store/models /models
RUN mkdir /stations && chown precursor:precursor /stations
COPY docker/entrypoint.sh /usr/local/bin/entrypoint.sh
COPY docker/healthcheck.py /usr/local/bin/healthcheck.py
USER precursor
WORKDIR /home/precursor
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "/usr/local/bin/healthcheck.py"]
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
