"""The chat core's metrics in the Prometheus text format (prometheus-client's public API).

Each app has its own `CollectorRegistry` (not the library's global one), so two bots in one
process, or one per test, never share counters. Labels are front end names and fixed kinds
only: no user id, message text, server name or secret can reach a label or a value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ..core.chat import ChatService

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

PREFIX = "memorybot"
# Turn latency buckets, seconds: the offline model answers in milliseconds, a hosted model
# in seconds, and MODEL_TIMEOUT_S caps a turn at 60 s by default.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)


class _Connected(Collector):
    """`memorybot_frontend_connected{frontend}`: 1 while each configured front end is
    connected, read from the chat service's `Connections` at scrape time."""

    def __init__(self, chat: ChatService) -> None:
        self._chat = chat

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            f"{PREFIX}_frontend_connected",
            "1 while a configured front end is connected to its platform, else 0",
            labels=["frontend"],
        )
        for name, problem in sorted(self._chat.connections.state().items()):
            family.add_metric([name], 0.0 if problem else 1.0)
        yield family


class Metrics:
    """A `TurnObserver` (see `bot.core.observe`) counting into its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.turns = Counter(
            f"{PREFIX}_turns",
            "Messages that asked for a turn, by front end and outcome "
            "(ok, paused, refused, failed)",
            ["frontend", "outcome"],
            registry=r,
        )
        self.refusals = Counter(
            f"{PREFIX}_turn_refusals",
            "Messages not run, by reason (too_long, queue_full, throttled, not_allowed, "
            "daily_turns_per_user, daily_tokens_per_user, daily_tokens_per_server)",
            ["reason"],
            registry=r,
        )
        self.failures = Counter(
            f"{PREFIX}_turn_failures",
            "Turns that failed and stored nothing, by kind (timeout, rate_limited, "
            "authentication, server_error, connection, bad_request, bad_response, storage_full, "
            "storage_unavailable, model_behavior, erased_meanwhile, internal)",
            ["kind"],
            registry=r,
        )
        self.latency = Histogram(
            f"{PREFIX}_turn_seconds",
            "Time of a turn that ran, from its message's arrival (queue wait included) to stored",
            ["frontend"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            f"{PREFIX}_model_tokens",
            "Model tokens of stored turns, by front end and direction (input, output)",
            ["frontend", "direction"],
            registry=r,
        )
        self.requests = Counter(
            f"{PREFIX}_model_requests",
            "Model requests of stored turns (0 for the offline model)",
            ["frontend"],
            registry=r,
        )
        self.store_errors = Counter(
            f"{PREFIX}_store_errors",
            "Store operations that failed, by kind (storage_full, storage_unavailable)",
            ["kind"],
            registry=r,
        )
        self.queued = Gauge(
            f"{PREFIX}_queued_messages",
            "Messages waiting behind their author's running turn or for a free turn slot",
            registry=r,
        )
        self.in_flight = Gauge(
            f"{PREFIX}_turns_in_flight",
            "Turns running now (at most MAX_CONCURRENT_TURNS)",
            registry=r,
        )
        self._ran: dict[str, tuple[Any, Any, Any, Any]] = {}

    def watch(self, chat: ChatService) -> None:
        """Read the chat service's queue, turns in flight and connections at scrape time."""
        self.queued.set_function(chat.admission.queued)
        self.in_flight.set_function(lambda: chat.admission.running)
        self.registry.register(_Connected(chat))

    def scrape(self) -> bytes:
        """Everything, in the Prometheus text format (CONTENT_TYPE_LATEST)."""
        return generate_latest(self.registry)

    # --- TurnObserver ---------------------------------------------------------------------

    def turn_done(self, frontend: str, outcome: str, kind: str | None = None) -> None:
        self.turns.labels(frontend, outcome).inc()
        if kind is None:
            return
        if outcome == "refused":
            self.refusals.labels(kind).inc()
        elif outcome == "failed":
            self.failures.labels(kind).inc()

    def turn_ran(
        self, frontend: str, seconds: float, requests: int, input_tokens: int, output_tokens: int
    ) -> None:
        # A front end's series, looked up once (every turn would otherwise take the
        # library's label lock four times).
        series = self._ran.get(frontend)
        if series is None:
            series = self._ran[frontend] = (
                self.latency.labels(frontend),
                self.requests.labels(frontend),
                self.tokens.labels(frontend, "input"),
                self.tokens.labels(frontend, "output"),
            )
        latency, requests_, tokens_in, tokens_out = series
        latency.observe(seconds)
        if requests:
            requests_.inc(requests)
        if input_tokens:
            tokens_in.inc(input_tokens)
        if output_tokens:
            tokens_out.inc(output_tokens)

    def store_error(self, kind: str) -> None:
        self.store_errors.labels(kind).inc()
