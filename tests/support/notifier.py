"""Helpers to drive the notifier in tests: valid stage-advanced messages and an in-process runner.

``stage_advanced(...)`` builds a message valid against ``stage-advanced.v1`` with
``shared.contract.envelope``; ``unique_ruc()`` and ``unique_dai()`` give fresh valid identifiers;
``NotifierThread(settings)`` runs ``run_notifier`` (consumer + webhooks) in a background thread.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
import uuid
from typing import Any

from senae_tracking.shared import contract
from senae_tracking.shared.identifiers import ruc_with_check_digit
from senae_tracking.shared.settings import Settings

_counter = itertools.count(1)
_rng = random.Random()


def unique_ruc() -> str:
    """A valid natural-person RUC not used before in this process (Pichincha, suffix 001)."""
    return ruc_with_check_digit(f"171{_rng.randrange(10**6):06d}")


def unique_dai() -> str:
    """A valid DAI number, different on every call."""
    return f"028-2025-10-{_rng.randrange(10**6) * 100 + next(_counter) % 100 + 1:08d}"


def stage_advanced(
    *, shipment_id: str | None = None, stage: str = "DAI_ACEPTADA",
    previous_stage: str | None = "DAI_TRANSMITIDA",
    ruc_importador: str | None = None, ruc_agente: str | None = None, canal: str | None = "FISICO",
    dai: str | None = None, observacion: str | None = None, occurred_at: str | None = None,
    event_id: str | None = None, **extra: Any,
) -> dict[str, Any]:
    """A valid ``senae.stage-advanced`` message (checked against the schema)."""
    payload: dict[str, Any] = {
        "shipment_id": shipment_id or f"CEC2025T{uuid.uuid4().hex[:10].upper()}",
        "source_event_id": str(uuid.uuid4()),
        "kind": "SIDE_EVENT" if stage in ("OBSERVACION", "CORRECCION") else "STAGE",
        "previous_stage": previous_stage,
        "stage": stage,
        **extra,
    }
    for name, value in (("ruc_importador", ruc_importador), ("ruc_agente", ruc_agente), ("canal", canal),
                        ("dai", dai), ("observacion", observacion)):
        if value is not None:
            payload[name] = value
    message = contract.envelope(contract.STAGE_ADVANCED, payload, event_id=event_id, occurred_at=occurred_at)
    return contract.check(contract.STAGE_ADVANCED, message)


class NotifierThread:
    """``run_notifier`` in a background thread with its own event loop; ``stop()`` ends it cleanly."""

    def __init__(self, settings: Settings, *, group_id: str | None = None, webhooks: bool = True) -> None:
        self.settings = settings
        self.group_id = group_id or f"test-notifier-{uuid.uuid4().hex[:8]}"
        self.webhooks = webhooks
        self.consumer: Any = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def start(self, ready_timeout: float = 60.0) -> NotifierThread:
        """Start and wait until the consumer has its partitions."""
        from senae_tracking.services.notifier.app import run_notifier

        started = threading.Event()

        def on_started(consumer: Any) -> None:
            self.consumer = consumer
            started.set()

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await run_notifier(self.settings, webhooks=self.webhooks, group_id=self.group_id,
                               stop=self._stop, started=on_started)

        def target() -> None:
            try:
                asyncio.run(main())
            except BaseException as exc:  # reported by stop()/ready checks
                self.error = exc
                started.set()

        self._thread = threading.Thread(target=target, name="notifier", daemon=True)
        self._thread.start()
        if not started.wait(30):
            raise AssertionError("notifier did not start")
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline and self.error is None:
            if self.consumer is not None and self.consumer.ready.is_set():
                return self
            time.sleep(0.05)
        raise AssertionError(f"notifier not ready: {self.error!r}")

    def stop(self) -> None:
        """Stop and join; re-raise an error the notifier died of."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(60)
        if self.error is not None:
            raise self.error

    def __enter__(self) -> NotifierThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
