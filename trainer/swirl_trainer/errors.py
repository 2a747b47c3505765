"""Errors the step command reports as `{"event": "error", "type": ...}`.

ConfigError and DataError are the caller's fault and never succeed on a retry
(exit code 2); anything else is a RuntimeError (exit code 1, retryable).
"""

from __future__ import annotations


class TrainerError(Exception):
    type = "RuntimeError"
    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class ConfigError(TrainerError):
    type = "ConfigError"
    exit_code = 2


class DataError(TrainerError):
    type = "DataError"
    exit_code = 2
