"""Watches one alert in Prometheus (through nginx, as an operator would) while a chaos
scenario runs: when it first fired, and when it last stopped firing."""

from __future__ import annotations

import threading
import time
from urllib.parse import quote

from fleet import Fleet
from role_values import role_default


class AlertWatch:
    def __init__(self, fleet: Fleet, alert: str, poll_s: float = 1.0) -> None:
        self.fleet = fleet
        self.alert = alert
        self.poll_s = poll_s
        self.started = time.monotonic()
        self.fired_at: float | None = None  # seconds after start() when first firing
        self.resolved_at: float | None = None  # ... when it last stopped firing
        self.firing = False
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        prefix = role_default("fleet_prometheus_prefix")
        expression = quote(f'ALERTS{{alertname="{alert}",alertstate="firing"}}')
        self._path = f"/{prefix}/api/v1/query?query={expression}"

    def _firing_now(self) -> bool:
        return bool(self.fleet.web_json(self._path)["data"]["result"])

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                firing = self._firing_now()
                now = time.monotonic() - self.started
                if firing and self.fired_at is None:
                    self.fired_at = now
                if self.firing and not firing:
                    self.resolved_at = now
                self.firing = firing
            except OSError:
                self.errors += 1
            self._stop.wait(self.poll_s)

    def start(self) -> None:
        self.started = time.monotonic()
        self._thread.start()

    def resolved_within(self, limit: float) -> float | None:
        """Seconds until it stops firing (0 when it is not firing), or None after
        ``limit``; the watch ends."""
        start = time.monotonic()
        while time.monotonic() - start < limit:
            if not self.firing:
                self._stop.set()
                return time.monotonic() - start
            time.sleep(self.poll_s)
        self._stop.set()
        return None
