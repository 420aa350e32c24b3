# Videobot: one process (aiogram long polling) on the embedded SQLite store under /data.
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
COPY pyproject.toml README.md ./
COPY bot/ bot/
COPY services/ services/
COPY storage/ storage/
COPY migrations/ migrations/
RUN pip install --no-cache-dir . \
    && rm -rf build ./*.egg-info

# The SQLite file and media live in DATA_DIR; the volume keeps them across container restarts.
RUN mkdir -p /data && chown videobot:videobot /data
ENV DATA_DIR=/data
VOLUME /data

USER videobot
# Port of the bot's web app (WEB_PORT); this version runs long polling and does not listen yet.
EXPOSE 8080
CMD ["python", "-m", "bot"]
