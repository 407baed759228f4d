"""The client's description of the audited data: ``--dataset NAME``, ``--period START/END`` and
``--source TEXT`` of ``regaudit-client audit`` (or ``data_description=`` of the DataFrame API).

They go into the signed submission statement's ``data_description`` as ``"dataset"``,
``"period": {"start", "end"}`` (ISO-8601 dates ``YYYY-MM-DD``, start <= end) and ``"source"``,
beside the row count and column names the client always records. They are declarations of the
client, signed by it: the regulator's report shows them as declared, nothing checks them
against the data. Like every option they may come from ``regaudit.toml`` (``[client]``) or the
environment (``REGAUDIT_CLIENT_DATASET``...; :mod:`regaudit.shared.cli_config`).
"""

from __future__ import annotations

import datetime
import inspect
import re
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from regaudit.shared.errors import InputError

#: Longest dataset name (characters).
MAX_DATASET_NAME_LENGTH = 200
#: Longest source text (characters).
MAX_SOURCE_LENGTH = 1000
#: Separates the two dates of ``--period``.
PERIOD_SEPARATOR = "/"
#: A calendar date as ``--period`` takes it (ISO 8601, extended form).
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: Keys the client itself writes into ``data_description`` (never taken from the caller).
RESERVED_KEYS = frozenset({"rows", "columns", "chunks"})

DATA_PANEL = "Data description (signed by the client)"

__all__ = [
    "MAX_DATASET_NAME_LENGTH",
    "MAX_SOURCE_LENGTH",
    "PERIOD_SEPARATOR",
    "RESERVED_KEYS",
    "check_data_description",
    "data_description_parameters",
    "describe_data",
]


def _text(value: object, *, field: str, limit: int) -> str:
    """A non-empty printable string of at most ``limit`` characters (surrounding blanks
    dropped); InputError naming ``field`` otherwise."""
    if not isinstance(value, str):
        raise InputError(f"must be text, got {type(value).__name__}", field=field)
    text = value.strip()
    if not text:
        raise InputError("must not be empty", field=field)
    if len(text) > limit:
        raise InputError(f"longer than {limit} characters ({len(text)})", field=field)
    if not text.isprintable():
        raise InputError(
            "must be printable text (no control characters or line breaks)", field=field
        )
    return text


def _date(text: str, *, field: str, which: str) -> datetime.date:
    if not _DATE.fullmatch(text):
        raise InputError(f"{which} date {text!r} is not YYYY-MM-DD", field=field)
    try:
        return datetime.date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{which} date {text!r} is not a date: {exc}", field=field) from None


def parse_period(value: object, *, field: str = "period") -> dict[str, str]:
    """``START/END`` (or ``{"start": START, "end": END}``), ISO-8601 dates with START <= END,
    as ``{"start", "end"}``; InputError naming ``field`` otherwise."""
    if isinstance(value, Mapping):
        if set(value) != {"start", "end"}:
            raise InputError('must have exactly the keys "start" and "end"', field=field)
        start_text, end_text = value["start"], value["end"]
        if not isinstance(start_text, str) or not isinstance(end_text, str):
            raise InputError("start and end must be YYYY-MM-DD text", field=field)
    elif isinstance(value, str):
        parts = value.strip().split(PERIOD_SEPARATOR)
        if len(parts) != 2:
            raise InputError(
                f"must be START{PERIOD_SEPARATOR}END (YYYY-MM-DD{PERIOD_SEPARATOR}YYYY-MM-DD), "
                f"got {value!r}",
                field=field,
            )
        start_text, end_text = (part.strip() for part in parts)
    else:
        raise InputError(f"must be START/END text, got {type(value).__name__}", field=field)
    start = _date(start_text, field=field, which="start")
    end = _date(end_text, field=field, which="end")
    if start > end:
        raise InputError(f"start {start} is after end {end}", field=field)
    return {"start": start.isoformat(), "end": end.isoformat()}


def describe_data(
    *, dataset: object = None, period: object = None, source: object = None
) -> dict[str, Any]:
    """The checked ``data_description`` entries of the given values (None: left out).
    InputError naming the option (``dataset``, ``period``, ``source``) for a bad value."""
    description: dict[str, Any] = {}
    if dataset is not None:
        description["dataset"] = _text(dataset, field="dataset", limit=MAX_DATASET_NAME_LENGTH)
    if period is not None:
        description["period"] = parse_period(period)
    if source is not None:
        description["source"] = _text(source, field="source", limit=MAX_SOURCE_LENGTH)
    return description


def check_data_description(value: object) -> dict[str, Any]:
    """A caller's ``data_description`` (DataFrame API): a mapping whose ``dataset``,
    ``period`` and ``source`` are checked as the command line checks them (the period may be
    ``START/END`` text); other keys are kept, but not the ones the client writes itself
    (RESERVED_KEYS). InputError naming ``data_description`` or the key."""
    if not isinstance(value, Mapping):
        raise InputError(f"must be a mapping, got {type(value).__name__}", field="data_description")
    reserved = sorted(RESERVED_KEYS & set(value))
    if reserved:
        raise InputError(
            f"{reserved[0]!r} is recorded by the client itself", field="data_description"
        )
    result = dict(value)
    result.update(
        describe_data(
            dataset=value.get("dataset"), period=value.get("period"), source=value.get("source")
        )
    )
    return result


def data_description_options(
    *,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            metavar="NAME",
            help=f"Name of the audited dataset (printable, at most {MAX_DATASET_NAME_LENGTH} "
            "characters), recorded in the signed submission.",
            rich_help_panel=DATA_PANEL,
        ),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            metavar="START/END",
            help="Period the data covers, ISO-8601 dates YYYY-MM-DD/YYYY-MM-DD (start <= end), "
            "recorded in the signed submission.",
            rich_help_panel=DATA_PANEL,
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            metavar="TEXT",
            help=f"Where the data comes from (printable, at most {MAX_SOURCE_LENGTH} "
            "characters), recorded in the signed submission.",
            rich_help_panel=DATA_PANEL,
        ),
    ] = None,
) -> None:
    """The data-description options of every ``audit`` subcommand (the signature is read,
    never run)."""


def data_description_parameters() -> list[inspect.Parameter]:
    """The parameters of :func:`data_description_options`, annotations evaluated."""
    return list(inspect.signature(data_description_options, eval_str=True).parameters.values())
