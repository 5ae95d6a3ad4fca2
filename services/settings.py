"""One settings object per process, read from ``AUDIOBOOK_*`` environment variables in main().

Library code receives a Settings; it never reads os.environ itself. docs/configuration.md
lists every variable.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from events.checking import AUTO, check_policy
from events.requests import PRIORITIES

PREFIX = "AUDIOBOOK_"
ZERO_MEANS_OFF = ("SIMULATED_RTF", "RELEASE_WINDOW", "USER_REQUESTS_PER_MINUTE", "USER_MAX_JOBS",
                  "USER_MAX_QUEUED_HOURS")  # 0 is allowed


def default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".local" / "share")
    return Path(base) / "audiobook-pipeline"


@dataclass(frozen=True)
class Settings:
    nats_url: str | None = None
    data_dir: Path = field(default_factory=lambda: default_data_dir(os.environ))
    input_dir: Path | None = None
    voice_dirs: tuple[Path, ...] = ()
    tts_threads: int | None = None  # None: cores / workers
    use_cuda: bool = False
    device: str = ""  # torch engines: cpu, cuda, cuda:1 ("" = cuda if use_cuda, else cpu)
    engines: tuple[str, ...] = ()  # engines a tts worker serves (); () = every engine this machine runs
    preload: tuple[str, ...] = ()  # voices ("ENGINE/VOICE", "ENGINE" for its default) a tts worker loads at start
    max_book_bytes: int = 200 * 1024 * 1024
    max_unpacked_bytes: int = 512 * 1024 * 1024
    max_book_chars: int = 10_000_000
    max_chapters: int = 2_000
    max_segments: int = 100_000
    max_audio_hours: float = 100.0
    max_parse_s: float = 600.0
    max_parse_bytes: int = 1024 * 1024 * 1024  # memory of the child process reading one book
    max_store_gb: float = 100.0  # the audio and books object store's byte limit
    user_store_gb: float = 5.0  # each named user's own object store (uploads and finished books)
    user_requests_per_minute: int = 30  # each named user's requests: a burst of this many, then this many a minute
    user_max_jobs: int = 10  # each named user's jobs running at once (0: no limit)
    user_max_queued_hours: float = 200.0  # each named user's audio still to make, in hours (0: no limit)
    max_segment_chars: int = 400
    ack_wait_s: float = 60.0
    max_deliver: int = 5
    worker_name: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    otlp_endpoint: str | None = None  # traces over OTLP/HTTP; None: no tracing at all
    service_name: str | None = None  # OTEL_SERVICE_NAME; default audiobook-<roles>
    nats_user: str | None = None
    nats_password: str | None = None
    nats_tls_ca: Path | None = None  # CA that signed the server's certificate (implies TLS)
    replicas: int | None = None  # JetStream replicas of every stream and bucket; None: the cluster's size, at most 3
    simulated_rtf: float = 0.0  # the instant test engine sleeps audio length x this (stands in for a GPU model)
    check: str = AUTO  # the check policy of a request that names none ("auto", "all", "off", "sample:0.1")
    check_model: Path | None = None  # a CTranslate2 Whisper folder for check workers; None: the packaged base model
    check_takes: int = 3  # takes a flagged segment of a voice that varies may have in all (1: no retakes)
    release_window: int = 0  # a job's commands queued at once; 0: two rounds of the fleet (parse.decide)
    command_key: str | None = None  # the core's key for command tickets (events.tickets); never a worker's
    max_priority: str = "urgent"  # the highest priority a request may ask for ("normal": no urgent jobs)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Settings from ``AUDIOBOOK_*`` variables; anything unset keeps its default."""
        def get(name: str) -> str | None:
            value = env.get(PREFIX + name)
            return value if value not in (None, "") else None

        base = cls(data_dir=Path(get("DATA_DIR") or default_data_dir(env)))
        updates: dict[str, object] = {}
        if get("NATS_URL"):
            updates["nats_url"] = get("NATS_URL")
        if get("INPUT_DIR"):
            updates["input_dir"] = Path(str(get("INPUT_DIR"))).resolve()
        if get("NATS_TLS_CA"):
            updates["nats_tls_ca"] = Path(str(get("NATS_TLS_CA")))
        if get("VOICE_DIRS"):
            updates["voice_dirs"] = tuple(Path(p) for p in str(get("VOICE_DIRS")).split(os.pathsep) if p)
        for name, attr, kind in (
            ("TTS_THREADS", "tts_threads", int), ("MAX_BOOK_MB", "max_book_bytes", float),
            ("MAX_UNPACKED_MB", "max_unpacked_bytes", float), ("MAX_BOOK_CHARS", "max_book_chars", int),
            ("MAX_CHAPTERS", "max_chapters", int), ("MAX_SEGMENTS", "max_segments", int),
            ("MAX_AUDIO_HOURS", "max_audio_hours", float), ("MAX_PARSE_S", "max_parse_s", float),
            ("MAX_PARSE_MB", "max_parse_bytes", float), ("MAX_STORE_GB", "max_store_gb", float),
            ("USER_STORE_GB", "user_store_gb", float), ("USER_REQUESTS_PER_MINUTE", "user_requests_per_minute", int),
            ("USER_MAX_JOBS", "user_max_jobs", int), ("USER_MAX_QUEUED_HOURS", "user_max_queued_hours", float),
            ("MAX_SEGMENT_CHARS", "max_segment_chars", int), ("ACK_WAIT", "ack_wait_s", float),
            ("MAX_DELIVER", "max_deliver", int), ("REPLICAS", "replicas", int),
            ("SIMULATED_RTF", "simulated_rtf", float), ("CHECK_TAKES", "check_takes", int),
            ("RELEASE_WINDOW", "release_window", int),
        ):
            raw = get(name)
            if raw is not None:
                value = setting_number(name, raw, kind, zero=name in ZERO_MEANS_OFF)
                updates[attr] = round(value * 1024 * 1024) if name.endswith("_MB") else value
        if get("ENGINES"):
            updates["engines"] = comma_list(str(get("ENGINES")))
        if get("CHECK"):
            try:
                updates["check"] = check_policy(str(get("CHECK")))
            except ValueError as exc:
                raise ValueError(f"{PREFIX}CHECK: {exc}") from None
        if get("MAX_PRIORITY"):
            if get("MAX_PRIORITY") not in PRIORITIES:
                raise ValueError(f"{PREFIX}MAX_PRIORITY must be one of {', '.join(PRIORITIES)}, "
                                 f"not {get('MAX_PRIORITY')!r}")
            updates["max_priority"] = str(get("MAX_PRIORITY"))
        if get("CHECK_MODEL"):
            updates["check_model"] = Path(str(get("CHECK_MODEL")))
        if get("PRELOAD"):
            updates["preload"] = comma_list(str(get("PRELOAD")))
        if get("DEVICE"):
            updates["device"] = get("DEVICE")
        if get("USE_CUDA"):
            updates["use_cuda"] = str(get("USE_CUDA")).lower() in ("1", "true", "yes")
        for name, attr in (("WORKER_NAME", "worker_name"), ("NATS_USER", "nats_user"),
                           ("NATS_PASSWORD", "nats_password"), ("COMMAND_KEY", "command_key")):
            if get(name):
                updates[attr] = get(name)
        otlp = (get("OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None)
        if otlp and env.get("OTEL_SDK_DISABLED", "").lower() != "true" and env.get("OTEL_TRACES_EXPORTER") != "none":
            updates["otlp_endpoint"] = otlp
        if env.get("OTEL_SERVICE_NAME"):
            updates["service_name"] = env["OTEL_SERVICE_NAME"]
        return replace(base, **updates)  # type: ignore[arg-type]

    def compute_device(self) -> str:
        """Where models run: ``AUDIOBOOK_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``), else CUDA when asked, else
        the CPU."""
        return self.device or ("cuda" if self.use_cuda else "cpu")

    def as_env(self) -> dict[str, str]:
        """These settings as ``AUDIOBOOK_*`` variables, so a child process builds the same ones.

        The worker name is left out: every process names itself (or is named by its parent).
        """
        values: dict[str, object | None] = {
            "NATS_URL": self.nats_url, "DATA_DIR": self.data_dir, "INPUT_DIR": self.input_dir,
            "VOICE_DIRS": os.pathsep.join(str(p) for p in self.voice_dirs) or None,
            "TTS_THREADS": self.tts_threads, "USE_CUDA": "1" if self.use_cuda else None,
            "ENGINES": ",".join(self.engines) or None, "DEVICE": self.device or None,
            "PRELOAD": ",".join(self.preload) or None,
            "MAX_BOOK_MB": repr(self.max_book_bytes / (1024 * 1024)), "MAX_SEGMENT_CHARS": self.max_segment_chars,
            "MAX_UNPACKED_MB": repr(self.max_unpacked_bytes / (1024 * 1024)), "MAX_BOOK_CHARS": self.max_book_chars,
            "MAX_CHAPTERS": self.max_chapters, "MAX_SEGMENTS": self.max_segments,
            "MAX_AUDIO_HOURS": self.max_audio_hours, "MAX_PARSE_S": self.max_parse_s,
            "MAX_PARSE_MB": repr(self.max_parse_bytes / (1024 * 1024)),
            "MAX_STORE_GB": self.max_store_gb, "USER_STORE_GB": self.user_store_gb,
            "USER_REQUESTS_PER_MINUTE": self.user_requests_per_minute, "USER_MAX_JOBS": self.user_max_jobs,
            "USER_MAX_QUEUED_HOURS": self.user_max_queued_hours,
            "ACK_WAIT": self.ack_wait_s, "MAX_DELIVER": self.max_deliver, "OTLP_ENDPOINT": self.otlp_endpoint,
            "NATS_USER": self.nats_user, "NATS_PASSWORD": self.nats_password, "NATS_TLS_CA": self.nats_tls_ca,
            "REPLICAS": self.replicas, "SIMULATED_RTF": self.simulated_rtf or None,
            "CHECK": self.check, "CHECK_MODEL": self.check_model, "CHECK_TAKES": self.check_takes,
            "RELEASE_WINDOW": self.release_window or None, "MAX_PRIORITY": self.max_priority,
            "COMMAND_KEY": self.command_key,
        }
        return {PREFIX + name: str(value) for name, value in values.items() if value is not None}


def comma_list(raw: str) -> tuple[str, ...]:
    """The names in a comma-separated setting, spaces and empty entries dropped."""
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def child_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment for a child process (a service started by the CLI or the stack harness):
    this process's environment, then ``settings``, then ``overrides`` (``AUDIOBOOK_`` added)."""
    env = dict(os.environ)
    env.update(settings.as_env())
    env.update({PREFIX + name: value for name, value in overrides.items()})
    return env


def setting_number(name: str, raw: str, kind: type[int] | type[float], zero: bool = False) -> float:
    """An ``AUDIOBOOK_*`` number: finite and positive (or zero where ``zero``), else a clear error."""
    try:
        value = kind(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        bound = "zero or more" if zero else "more than zero"
        raise ValueError(f"{PREFIX}{name} must be a {'whole ' if kind is int else ''}number {bound}, not {raw!r}")
    return value
