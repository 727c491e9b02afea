"""HTTP adapter of the simulator's live mode: post simulated events to the ingest API at a rate.

Retries the same request (same event ids, so repeats are harmless) while the API is not up yet
or answers 503/5xx, so the demo can start the simulator before the API is ready.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

#: Above this many events per second, events are grouped into one batch per tick.
SINGLE_POST_MAX_RATE = 20.0
TICK = 0.1


class LiveError(RuntimeError):
    """The API refused the simulator for good (e.g. 401: wrong API key)."""


@dataclass
class LiveStats:
    """What the live run did."""

    sent: int = 0
    retries: int = 0
    rejected: int = 0


def _post(client: httpx.Client, url: str, body: Any, stats: LiveStats,
          stop: Callable[[], bool]) -> bool:
    """Post ``body`` until it is answered for good; False if ``stop()`` ended the retries."""
    backoff = 0.5
    while not stop():
        try:
            response = client.post(url, json=body)
        except httpx.TransportError as exc:
            log.info("ingest API not reachable (%s); retrying in %.1f s", exc, backoff)
        else:
            if response.status_code == 202:
                return True
            if response.status_code == 401:
                raise LiveError("clave de API rechazada / API key refused (401)")
            if response.status_code < 500:
                stats.rejected += len(body) if isinstance(body, list) else 1
                log.warning("events refused (%s): %s", response.status_code, response.text[:500])
                return True
            log.info("ingest API answered %s; retrying in %.1f s", response.status_code, backoff)
        stats.retries += 1
        time.sleep(backoff)
        backoff = min(backoff * 2, 5.0)
    return False


def post_live(
    events: Iterator[dict[str, Any]], base_url: str, api_key: str, rate: float, *,
    count: int | None = None, duration: float | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> LiveStats:
    """Post ``events`` to ``base_url``/v1/stage-events at ``rate`` per second until done.

    Stops after ``count`` events, after ``duration`` seconds, or when ``stop()`` is true.
    """
    url = base_url.rstrip("/") + "/v1/stage-events"
    stats = LiveStats()
    started = time.monotonic()
    per_tick = max(1, round(rate * TICK)) if rate > SINGLE_POST_MAX_RATE else 1
    interval = per_tick / rate
    next_at = started

    def finished() -> bool:
        return (stop() or (count is not None and stats.sent >= count)
                or (duration is not None and time.monotonic() - started >= duration))

    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(headers=headers, timeout=30.0) as client:
        while not finished():
            wait = next_at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            size = per_tick if count is None else min(per_tick, count - stats.sent)
            group = [next(events) for _ in range(size)]
            if not _post(client, url, group if per_tick > 1 else group[0], stats, stop):
                break
            stats.sent += size
            next_at = max(next_at + interval, time.monotonic() - 1.0)
    return stats
