"""The daemon's logs: lifecycle events, one line each, as text (``key=value``) or JSON lines.

An event is a log record on the ``regaudit.evaluator.events`` logger whose message is the
event's name and whose fields travel under one ``extra`` key (``extra={"fields": {...}}``):
:func:`log_event` writes one. ``serve`` logs events at INFO without ``-v`` (other INFO lines,
e.g. evaluation-key deletions, still need ``-v``).

Events: ``evaluator_started`` (address, store, workers, and ``metrics``: the bound
``--metrics-listen`` address, if any), ``evaluator_stopping``, ``keys_uploaded`` (digest
prefix, bytes), ``job_admitted`` (job and audit ids, client key id prefix, primitive and
circuit version, profile, rows, chunks, ciphertexts, peer), ``upload_finished`` (ciphertexts,
bytes, seconds), ``job_succeeded`` (evaluation and total seconds) and ``job_failed`` (reason;
primitive when known). Fields are identifiers, counts and durations only: never ciphertext
bytes, key bytes or public inputs.

``--log-format json`` writes every record (events and any other log line) as one JSON object
per line: ``time`` (RFC 3339, UTC), ``level``, ``event`` (``"log"`` with a ``message`` for a
record that is not an event), ``logger``, then the event's fields as keys.

Observers (:func:`add_observer`) see every event after it is logged: :mod:`.metrics` counts
finished jobs and received bytes from them, next to the log line.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeAlias

#: The logger every lifecycle event goes to (INFO even without ``-v``).
EVENTS_LOGGER = "regaudit.evaluator.events"
events = logging.getLogger(EVENTS_LOGGER)

LOG_FORMATS: tuple[str, ...] = ("text", "json")
#: The text format's prefix (as before events existed); fields follow as ``key=value``.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: How many characters of a digest or key id an event names.
ID_PREFIX = 16
#: Keys of a JSON line that an event's fields cannot replace.
_RESERVED = ("time", "level", "event", "logger")


#: Called with every event's name and fields after it is logged (e.g. :mod:`.metrics`).
EventObserver: TypeAlias = Callable[[str, dict[str, object]], None]
_observers: list[EventObserver] = []
_observers_lock = threading.Lock()


def add_observer(observer: EventObserver) -> None:
    """Call ``observer(event, fields)`` after every event from now on."""
    with _observers_lock:
        _observers.append(observer)


def remove_observer(observer: EventObserver) -> None:
    """Stop calling ``observer`` (nothing if it was not added)."""
    with _observers_lock:
        if observer in _observers:
            _observers.remove(observer)


def log_event(event: str, level: int = logging.INFO, **fields: object) -> None:
    """Log lifecycle ``event`` with ``fields`` (identifiers, counts, durations; no secrets),
    then hand it to the observers (an observer's failure is logged, never raised)."""
    events.log(level, event, extra={"fields": fields})
    with _observers_lock:
        observers = tuple(_observers)
    for observer in observers:
        try:
            observer(event, fields)
        except Exception:  # noqa: BLE001 - observing an event never fails the caller
            _python_log.exception("event observer failed on %s", event)


def prefix(identifier: str) -> str:
    """The first :data:`ID_PREFIX` characters of a digest or key id (after any ``sha256:``)."""
    return identifier.removeprefix("sha256:")[:ID_PREFIX]


def seconds(value: float) -> float:
    """A duration for a log line: seconds, to the millisecond."""
    return round(max(0.0, value), 3)


def fields_of(record: logging.LogRecord) -> dict[str, object] | None:
    """An event record's fields, or None for any other record."""
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else None


def _text_value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text == "" or any(c.isspace() or c in '"=\\' for c in text):
        return json.dumps(text)
    return text


class TextFormatter(logging.Formatter):
    """The plain-text format; an event's fields follow its name as ``key=value`` (values with
    spaces, quotes or ``=`` are JSON-quoted)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = fields_of(record)
        if not fields:
            return line
        rendered = " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
        head, sep, tail = line.partition("\n")  # (fields stay on the record's first line)
        return f"{head} {rendered}{sep}{tail}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line (standard library only): ``time``, ``level``, ``event``,
    ``logger``, then the event's fields; a record that is not an event has ``event: "log"`` and
    its ``message``; an exception adds ``exception`` (the traceback, as a string)."""

    def format(self, record: logging.LogRecord) -> str:
        time = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        line: dict[str, object] = {
            "time": time.replace("+00:00", "Z"),
            "level": record.levelname,
        }
        fields = fields_of(record)
        if fields is not None:
            line["event"] = record.getMessage()
            line["logger"] = record.name
            for key, value in fields.items():
                if key not in _RESERVED:
                    line[key] = value
        else:
            line["event"] = "log"
            line["logger"] = record.name
            line["message"] = record.getMessage()
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, separators=(",", ":"))


def configure_logging(log_format: str = "text", *, verbose: bool = False) -> None:
    """``serve``'s logging: one stderr handler in ``log_format``; WARNING (INFO with
    ``verbose``) for every logger, INFO for lifecycle events either way. With ``json``, the
    exceptions Python would print itself (an uncaught one in a thread, one "ignored" during
    clean-up or at exit) become JSON lines too, so that every line of the daemon is one."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, got {log_format!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    events.setLevel(logging.INFO)
    if log_format == "json":
        sys.unraisablehook = _log_unraisable
        threading.excepthook = _log_thread_exception


_python_log = logging.getLogger("regaudit.evaluator.python")


def _log_unraisable(unraisable: Any) -> None:
    """``sys.unraisablehook`` for JSON logs ("Exception ignored in ...")."""
    where = unraisable.err_msg or "Exception ignored in"
    _python_log.error(
        "%s: %r",
        where,
        unraisable.object,
        exc_info=(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback),
    )


def _log_thread_exception(args: Any) -> None:
    """``threading.excepthook`` for JSON logs (an exception no thread caught)."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "unknown"
    _python_log.error(
        "uncaught exception in thread %s",
        name,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


__all__ = [
    "EVENTS_LOGGER",
    "LOG_FORMATS",
    "EventObserver",
    "JsonFormatter",
    "TextFormatter",
    "add_observer",
    "configure_logging",
    "events",
    "log_event",
    "prefix",
    "remove_observer",
    "seconds",
]
