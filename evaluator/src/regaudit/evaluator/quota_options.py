"""The quota options of ``regaudit-evaluator serve`` (:mod:`.quotas`), as typer parameter
types: one line each in :func:`regaudit.evaluator.cli.serve`, the help text here."""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

import typer

_REFUSED = "refused with RESOURCE_EXHAUSTED quota_exceeded and a retry delay; 0: no quota"


def _count(option: str, text: str) -> Any:  # (typer.Option is typed Any)
    return typer.Option(option, min=0, help=f"{text}; {_REFUSED}")


MaxJobsPerClient: TypeAlias = Annotated[
    int,
    _count(
        "--max-jobs-per-client",
        "jobs that have not ended (receiving, queued, running) one client key may have",
    ),
]
MaxJobs: TypeAlias = Annotated[
    int, _count("--max-jobs", "jobs that have not ended on this evaluator, every client's")
]
MaxStreamsPerClient: TypeAlias = Annotated[
    int,
    _count(
        "--max-streams-per-client",
        "long streams (key uploads, job submissions, watches, results) one client key may "
        "hold at once (--max-streams bounds everyone's)",
    ),
]
MaxInflightBytesPerClient: TypeAlias = Annotated[
    int,
    _count(
        "--max-inflight-bytes-per-client",
        "upload bytes one client key may have in flight (a key upload's declared size, a job "
        "stream's largest ciphertext), reserved before the first byte is read",
    ),
]
MaxInflightBytes: TypeAlias = Annotated[
    int, _count("--max-inflight-bytes", "upload bytes in flight on this evaluator")
]
MaxStoredBytesPerClient: TypeAlias = Annotated[
    int,
    _count(
        "--max-stored-bytes-per-client",
        "bytes the store may hold for one client key (its jobs' folders, the evaluation keys "
        "it uploaded, and the whole claimed input of its admitted jobs)",
    ),
]
MaxStoredBytes: TypeAlias = Annotated[
    int,
    _count(
        "--max-stored-bytes",
        "bytes the store may hold for every client together (default 0: --min-free-bytes "
        "bounds the disk)",
    ),
]
SubmitRate: TypeAlias = Annotated[
    float,
    typer.Option(
        "--submit-rate",
        min=0,
        help="key uploads plus job submissions per minute and client key (a token bucket; "
        "refused with RESOURCE_EXHAUSTED rate_limited and the time to the next token; 0: off)",
    ),
]
SubmitBurst: TypeAlias = Annotated[
    int, typer.Option("--submit-burst", min=1, help="the --submit-rate bucket's size")
]
CallRate: TypeAlias = Annotated[
    float,
    typer.Option(
        "--call-rate",
        min=0,
        help="signed calls of every kind per minute and client key (rate_limited; 0: off)",
    ),
]
CallBurst: TypeAlias = Annotated[
    int, typer.Option("--call-burst", min=1, help="the --call-rate bucket's size")
]

__all__ = [
    "CallBurst",
    "CallRate",
    "MaxInflightBytes",
    "MaxInflightBytesPerClient",
    "MaxJobs",
    "MaxJobsPerClient",
    "MaxStoredBytes",
    "MaxStoredBytesPerClient",
    "MaxStreamsPerClient",
    "SubmitBurst",
    "SubmitRate",
]
