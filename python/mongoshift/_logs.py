"""What a Python transform logs with the ``logging`` module during a batch.

Each worker thread gathers the records emitted while it runs a batch (at the
loggers' own levels: ``WARNING`` and above unless the application configures
logging) into a bounded buffer; the engine takes them after the call and shows
them like a Wasm guest's lines: with the batch's failure, in a quarantined
document's entry, as progress events.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

# The engine's bounds per batch (host/src/batch/logs.rs): lines beyond them
# are counted, not kept.
MAX_LINES = 200
MAX_LINE_CHARS = 4096

Line = tuple[int | None, int, str]


def level_number(levelno: int) -> int:
    """The contract's level (0 debug ... 4 error) of a ``logging`` level."""
    if levelno >= logging.ERROR:
        return 4
    if levelno >= logging.WARNING:
        return 3
    if levelno >= logging.INFO:
        return 1
    return 0


class BatchLog:
    """One worker's lines of the batch it runs."""

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self.dropped = 0
        self.index: int | None = None

    def add(self, level: int, message: str) -> None:
        if len(self.lines) >= MAX_LINES:
            self.dropped += 1
            return
        self.lines.append((self.index, level, message[: MAX_LINE_CHARS + 1]))

    def take(self) -> tuple[list[Line], int]:
        out = (self.lines, self.dropped)
        self.lines, self.dropped, self.index = [], 0, None
        return out


_local = threading.local()
_formatter = logging.Formatter()
_install = threading.Lock()
_handler: logging.Handler | None = None


class _Capture(logging.Handler):
    """Routes each record to the batch log of the thread that emitted it."""

    def emit(self, record: logging.LogRecord) -> None:
        log: BatchLog | None = getattr(_local, "log", None)
        if log is None:
            return
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        if record.exc_info:
            message += "\n" + _formatter.formatException(record.exc_info)
        log.add(level_number(record.levelno), f"{record.name}: {message}")


def _installed() -> None:
    global _handler
    with _install:
        if _handler is None:
            _handler = _Capture()
            logging.getLogger().addHandler(_handler)


class LoggedWorker:
    """A worker whose calls capture what they log; ``take_logs`` hands the
    last call's lines to the engine."""

    def __init__(self, run: Callable[..., Any], log: BatchLog) -> None:
        _installed()
        self._run = run
        self._log = log

    def __call__(self, direction: str, data: bytes, count: int) -> Any:
        self._log.take()
        _local.log = self._log
        try:
            return self._run(direction, data, count)
        finally:
            _local.log = None

    def take_logs(self) -> tuple[list[Line], int]:
        return self._log.take()
