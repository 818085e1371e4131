"""The engine's log lines: written by the main process only (as accelerate's ``get_logger``), with
the ``[RANK i]`` prefix only when several processes run (one process has no ranks to tell apart)."""

from __future__ import annotations

import logging

from accelerate import PartialState


class ProcessLogger(logging.LoggerAdapter):
    """``logger.info(msg)`` on the main process; ``main_process_only=False`` logs on every rank."""

    def process(self, msg, kwargs):
        state = PartialState()
        kwargs.setdefault("stacklevel", 3)  # the caller's line, not this adapter's
        return (f"[RANK {state.process_index}] {msg}" if state.num_processes > 1 else msg), kwargs

    def log(self, level, msg, *args, main_process_only: bool = True, **kwargs):
        if main_process_only and not PartialState().is_main_process:
            return
        super().log(level, msg, *args, **kwargs)


def get_logger(name: str) -> ProcessLogger:
    return ProcessLogger(logging.getLogger(name), {})
