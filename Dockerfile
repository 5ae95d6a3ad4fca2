# One image for every service: `audiobook serve parse|tts|assemble`.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY events ./events
COPY services ./services
COPY tui ./tui
RUN pip install --no-cache-dir . && useradd --create-home --uid 10001 audiobook
USER audiobook
ENTRYPOINT ["audiobook"]
