# One image for every service: `audiobook serve parse|tts|assemble`.
# The GPU image adds Coqui on torch: docker build --build-arg EXTRAS=coqui (compose: the tts-gpu service).
FROM python:3.11-slim
ARG EXTRAS=""
# espeak-ng reads every language without a neural voice; FFmpeg's libraries let torchcodec read
# the reference recordings that Coqui's XTTS clones.
RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng ffmpeg \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY events ./events
COPY services ./services
COPY tui ./tui
RUN pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}" && useradd --create-home --uid 10001 audiobook
USER audiobook
ENTRYPOINT ["audiobook"]
