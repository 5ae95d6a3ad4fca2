"""The operator API: what the CLI, the dashboard and scripts do to the pipeline, written once.

session (a connection as one kind of client; the one way a request is sent, with its trace) ·
guards (each verb's rule, pure) · jobs (submit with upload, status, resume/retry, cancel, pause
and unpause a job) · follow (a job to its end, as typed updates) · fleet (workers, synthesis
paused per engine, drain) · voices · errors (the error tree). docs/client.md shows it in use.
"""

from services.bus.jobs import QueueDepth, served_engines
from services.client.api import PipelineClient, connect
from services.client.errors import (
    ClientError,
    ConnectionLost,
    JobNotFound,
    JobStateError,
    NoAnswer,
    NoPipeline,
    NoSuchFile,
    ServerError,
    Unreachable,
    WorkerNotFound,
)
from services.client.follow import Assembling, Outcome, Progress, Update, Warned
from services.client.jobs import DeadLetters
from services.client.session import Submission
from services.client.voices import EngineVoices, default_voice, local_voices

__all__ = [
    "Assembling", "ClientError", "ConnectionLost", "DeadLetters", "EngineVoices", "JobNotFound", "JobStateError",
    "NoAnswer", "NoPipeline", "NoSuchFile", "Outcome", "PipelineClient", "Progress", "QueueDepth", "ServerError",
    "Submission", "Unreachable", "Update", "Warned", "WorkerNotFound", "connect", "default_voice", "local_voices",
    "served_engines",
]
