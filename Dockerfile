# One image for the control bus and the agents: `docker compose up` (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY common common
COPY control_bus control_bus
COPY agent agent
RUN pip install . && rm -rf /src

# Never run as root; /data belongs to the user so a named volume mounted
# there starts out writable.
RUN useradd --create-home --uid 10001 jobstreamer \
    && mkdir /data && chown jobstreamer:jobstreamer /data
USER jobstreamer
WORKDIR /home/jobstreamer
VOLUME ["/data"]

# 45102: the bus's HTTP and WebSocket port; 4510: an agent's REST API.
EXPOSE 45102 4510
ENTRYPOINT ["jobstreamer"]
CMD ["--help"]
