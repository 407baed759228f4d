"""The figures of the quotas (:mod:`.quotas`): their ``serve`` defaults, :class:`QuotaLimits`,
a client's :class:`Usage`, and the rate limits' :class:`TokenBucket` per client
(:class:`RateLimiter`).

Every default is far above what one vendor's audits need and low enough to bound a hostile
client; 0 turns a quota (or a rate limit) off.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from regaudit.shared.errors import InputError

GIB = 1024**3
#: Defaults of ``serve``: far above what one vendor's audits need, low enough to bound a
#: hostile client (0 turns a quota off).
DEFAULT_JOBS_PER_CLIENT = 8
DEFAULT_JOBS = 64
#: Long streams (uploads, submissions, watches, results) one client may hold at once: half
#: of ``--max-streams``'s default, so that one client cannot take every stream slot.
DEFAULT_STREAMS_PER_CLIENT = 16
DEFAULT_INFLIGHT_BYTES_PER_CLIENT = 2 * GIB
DEFAULT_INFLIGHT_BYTES = 8 * GIB
DEFAULT_STORED_BYTES_PER_CLIENT = 20 * GIB
#: No global cap on stored bytes by default: ``--min-free-bytes`` keeps the disk from filling.
DEFAULT_STORED_BYTES = 0
#: Key uploads plus job submissions per minute and client (an audit makes two), and the burst.
DEFAULT_SUBMIT_RATE = 60.0
DEFAULT_SUBMIT_BURST = 20
#: Signed calls of every kind per minute and client (an audit makes about six), and the burst.
DEFAULT_CALL_RATE = 3000.0
DEFAULT_CALL_BURST = 500
#: The shortest retry delay a rate-limit refusal asks for (seconds).
MIN_RATE_RETRY_S = 0.05
#: Rate-limit buckets kept before full (idle) ones are forgotten.
MAX_TRACKED_CLIENTS = 100_000


@dataclass(frozen=True)
class QuotaLimits:
    """The quotas of one daemon (``serve --max-jobs-per-client`` ...); 0 turns one off. Rates
    are per minute."""

    max_jobs_per_client: int = DEFAULT_JOBS_PER_CLIENT
    max_jobs: int = DEFAULT_JOBS
    max_streams_per_client: int = DEFAULT_STREAMS_PER_CLIENT
    max_inflight_bytes_per_client: int = DEFAULT_INFLIGHT_BYTES_PER_CLIENT
    max_inflight_bytes: int = DEFAULT_INFLIGHT_BYTES
    max_stored_bytes_per_client: int = DEFAULT_STORED_BYTES_PER_CLIENT
    max_stored_bytes: int = DEFAULT_STORED_BYTES
    submit_rate: float = DEFAULT_SUBMIT_RATE
    submit_burst: int = DEFAULT_SUBMIT_BURST
    call_rate: float = DEFAULT_CALL_RATE
    call_burst: int = DEFAULT_CALL_BURST

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value >= 0:
                raise InputError("must not be negative", field=name)
        for rate, burst in (("submit_rate", "submit_burst"), ("call_rate", "call_burst")):
            if getattr(self, rate) > 0 and getattr(self, burst) < 1:
                raise InputError(f"must be at least 1 when {rate} is on", field=burst)

    @classmethod
    def off(cls) -> QuotaLimits:
        """No quota and no rate limit (usage is still measured)."""
        return cls(**{name: 0 for name in cls.__dataclass_fields__})


@dataclass
class Usage:
    """What one client (or everyone) holds or has reserved."""

    jobs: int = 0
    inflight: int = 0
    stored: int = 0

    def add(self, jobs: int, inflight: int, stored: int, sign: int = 1) -> None:
        self.jobs += sign * jobs
        self.inflight += sign * inflight
        self.stored += sign * stored

    @property
    def empty(self) -> bool:
        return self.jobs == 0 and self.inflight == 0 and self.stored == 0


class TokenBucket:
    """``rate`` tokens per minute, at most ``burst`` held; starts full."""

    def __init__(self, rate_per_minute: float, burst: int, now: float) -> None:
        self.per_second = rate_per_minute / 60.0
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0: one is there now)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.per_second

    def take(self) -> None:
        self.tokens -= 1.0

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


class RateLimiter:
    """The token buckets of ``limits``' rate limits (``submit_rate``, ``call_rate``), one per
    limit and client, made on first use; full (idle) buckets are forgotten once there are
    :data:`MAX_TRACKED_CLIENTS`. Not thread-safe: the quota ledger calls it under its lock."""

    def __init__(self, limits: QuotaLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self.clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def rate(self, name: str) -> tuple[float, int]:
        """(tokens per minute, burst) of the limit ``name`` (``submit_rate``, ``call_rate``)."""
        rate = float(getattr(self.limits, name))
        return rate, int(getattr(self.limits, name.replace("_rate", "_burst")))

    def wait(self, name: str, client: str, *, take: bool) -> float:
        """Seconds until ``client`` has a token of ``name`` (0: it has one, taken if ``take``;
        always 0 for a limit that is off), rounded up to the millisecond and at least
        :data:`MIN_RATE_RETRY_S` when not 0."""
        rate, burst = self.rate(name)
        if rate <= 0:
            return 0.0
        now = self.clock()
        bucket = self._buckets.get((name, client))
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED_CLIENTS:
                self._buckets = {k: b for k, b in self._buckets.items() if not b.full(now)}
            bucket = self._buckets[(name, client)] = TokenBucket(rate, burst, now)
        wait = bucket.wait(now)
        if wait > 0:
            return max(MIN_RATE_RETRY_S, math.ceil(wait * 1000) / 1000)
        if take:
            bucket.take()
        return 0.0


__all__ = [
    "DEFAULT_CALL_BURST",
    "DEFAULT_CALL_RATE",
    "DEFAULT_INFLIGHT_BYTES",
    "DEFAULT_INFLIGHT_BYTES_PER_CLIENT",
    "DEFAULT_JOBS",
    "DEFAULT_JOBS_PER_CLIENT",
    "DEFAULT_STORED_BYTES",
    "DEFAULT_STORED_BYTES_PER_CLIENT",
    "DEFAULT_STREAMS_PER_CLIENT",
    "DEFAULT_SUBMIT_BURST",
    "DEFAULT_SUBMIT_RATE",
    "GIB",
    "MAX_TRACKED_CLIENTS",
    "MIN_RATE_RETRY_S",
    "QuotaLimits",
    "RateLimiter",
    "TokenBucket",
    "Usage",
]
