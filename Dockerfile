# Videobot: one process (aiogram long polling, or a webhook) with the poller, on the embedded SQLite store
# under /data (or Supabase when SUPABASE_URL is set).
#   docker compose up -d            (compose.yaml)
#   docker build -t videobot .
#   docker run -d --name videobot --env-file .env -v videobot-data:/data videobot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 videobot \
    && useradd --system --uid 10001 --gid videobot --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin videobot

WORKDIR /app
# Dependencies first, read from pyproject.toml alone: this layer is rebuilt only when pyproject.toml
# changes, not on every source edit.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the source, installed without touching the dependencies again.
COPY README.md ./
COPY bot/ bot/
COPY services/ services/
COPY storage/ storage/
COPY migrations/ migrations/
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf build ./*.egg-info

# The SQLite file, media and the heartbeat live in DATA_DIR; the volume keeps them across restarts.
RUN mkdir -p /data && chown videobot:videobot /data
ENV DATA_DIR=/data
VOLUME /data

USER videobot
# The web app (WEB_PORT) listens here when PUBLIC_BASE_URL or WEBHOOK_URL is set: provider callbacks,
# media links, the Telegram webhook and /healthz. In plain long polling nothing listens.
EXPOSE 8080
# Works in long polling too: the running bot touches DATA_DIR/heartbeat every POLL_INTERVAL_SECONDS.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["python", "-m", "bot", "health"]
CMD ["python", "-m", "bot"]
