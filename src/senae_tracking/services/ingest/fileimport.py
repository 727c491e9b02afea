"""File import: stream a JSONL or CSV file of stage events, publish the valid ones in chunks.

Memory stays bounded by the chunk size whatever the file size. Rejected rows go, with their
reasons, to a sibling ``<name>.rejected.jsonl``. Re-running a file re-sends the same event ids
(CSV rows without one get an id derived from their content), which the processor drops as
duplicates; repeats inside one run are skipped here.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from senae_tracking.services.ingest import domain
from senae_tracking.shared import contract

#: Events published per producer flush.
CHUNK = 2000


class ImportFormatError(ValueError):
    """The file cannot be read as the format its name says (e.g. unknown CSV columns)."""


@dataclass
class ImportResult:
    """Counts of one import run."""

    read: int = 0
    published: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejected_path: Path | None = None

    def summary(self) -> str:
        """One line, Spanish first."""
        return (f"Leídos / read: {self.read} · publicados / published: {self.published} · "
                f"duplicados / duplicates: {self.duplicates} · rechazados / rejected: {self.rejected}")


def rejected_path_for(path: Path) -> Path:
    """``events.csv`` -> ``events.rejected.jsonl`` beside it."""
    return path.with_name(f"{path.stem}.rejected.jsonl")


def file_format(path: Path, forced: str | None = None) -> str:
    """``csv`` or ``jsonl``, from ``forced`` or the file name (default jsonl)."""
    if forced:
        return forced
    return "csv" if path.suffix.lower() in (".csv", ".tsv") else "jsonl"


@dataclass
class _Row:
    line: int
    event: Any
    raw: Any
    problem: str | None = None


_NOT_UTF8 = "no es UTF-8 válido / not valid UTF-8"


class _Lines:
    """Decoded lines of a binary file, counting bytes for the progress bar and bad UTF-8 lines."""

    def __init__(self, handle: IO[bytes], progress: Callable[[int], Any]) -> None:
        self.handle = handle
        self.progress = progress
        self.count = 0
        self.bad: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        for raw in self.handle:
            self.count += 1
            self.progress(len(raw))
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                self.bad.add(self.count)
                yield raw.decode("utf-8", "replace")


def _jsonl_rows(lines: _Lines) -> Iterator[_Row]:
    for line in lines:
        if lines.count in lines.bad:
            yield _Row(lines.count, None, line.rstrip("\r\n"), _NOT_UTF8)
            continue
        if not line.strip():
            continue
        try:
            yield _Row(lines.count, json.loads(line), None)
        except (json.JSONDecodeError, RecursionError) as exc:
            message = getattr(exc, "msg", "nested too deeply")
            yield _Row(lines.count, None, line.rstrip("\r\n"), f"JSON inválido / malformed JSON: {message}")


def _csv_rows(lines: _Lines) -> Iterator[_Row]:
    reader = csv.DictReader(lines)
    header = reader.fieldnames or []
    unknown = domain.unknown_columns(header)
    if unknown:
        raise ImportFormatError(
            f"columnas desconocidas / unknown CSV columns: {', '.join(unknown)} "
            f"(known: {', '.join(domain.CSV_COLUMNS)})")
    previous = reader.line_num
    for row in reader:
        span = range(previous + 1, reader.line_num + 1)
        previous = reader.line_num
        if any(n in lines.bad for n in span):
            yield _Row(reader.line_num, None, dict(row), _NOT_UTF8)
        elif None in row:
            yield _Row(reader.line_num, None, row.get(None),
                       "más celdas que columnas / more cells than header columns")
        else:
            yield _Row(reader.line_num, domain.row_to_event(row), dict(row))


def import_file(
    path: Path, publish: Callable[[list[dict[str, Any]]], Any], *, fmt: str | None = None,
    chunk: int = CHUNK, show_progress: bool | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ImportResult:
    """Validate and publish every row of ``path``; write rejects beside it; return the counts.

    ``publish`` receives lists of at most ``chunk`` valid events and must raise if the broker did
    not acknowledge them (the import then stops; what was published stays, and a re-run is safe).
    """
    kind = file_format(path, fmt)
    result = ImportResult()
    recent = domain.RecentIds()
    fast_check = contract.fast_check(contract.STAGE_EVENT)
    rejected_path = rejected_path_for(path)
    rejected_out: IO[str] | None = None
    pending: list[dict[str, Any]] = []
    pending_ids: set[str] = set()

    def flush() -> None:
        if pending:
            publish(list(pending))
            for event in pending:
                recent.add(str(event["event_id"]))
            result.published += len(pending)
            pending.clear()
            pending_ids.clear()

    def reject(row: _Row, errors: list[dict[str, Any]]) -> None:
        nonlocal rejected_out
        if rejected_out is None:
            rejected_out = rejected_path.open("w", encoding="utf-8")
        result.rejected += 1
        record = {"line": row.line, "errors": errors, "row": row.raw if row.raw is not None else row.event}
        rejected_out.write(json.dumps(record, ensure_ascii=False) + "\n")

    bar = tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=path.name,
               disable=None if show_progress is None else not show_progress, leave=False)
    try:
        with path.open("rb") as handle:
            lines = _Lines(handle, bar.update)
            rows = _csv_rows(lines) if kind == "csv" else _jsonl_rows(lines)
            for row in rows:
                result.read += 1
                if row.problem is not None:
                    reject(row, [{"field": "(line)", "message": row.problem}])
                    continue
                issues = domain.validate_event(row.event, clock(), fast_check)
                if issues:
                    reject(row, [i.as_dict() for i in issues])
                    continue
                event_id = str(row.event["event_id"])
                if event_id in recent or event_id in pending_ids:
                    result.duplicates += 1
                    continue
                pending.append(row.event)
                pending_ids.add(event_id)
                if len(pending) >= chunk:
                    flush()
            flush()
    finally:
        bar.close()
        if rejected_out is not None:
            rejected_out.close()
    if result.rejected:
        result.rejected_path = rejected_path
    elif rejected_path.exists():
        rejected_path.unlink()  # a stale report from an earlier run of this file would mislead
    return result
