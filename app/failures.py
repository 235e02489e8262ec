"""Why a request failed, as a value: the worker sends a `Failure` across its signal and the
controller acts on its `kind`, never on the wording of its message."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FailureKind(enum.Enum):
    CONTEXT_TOO_LONG = "context_too_long"  # the new message cannot fit the context window at all
    NO_MODEL = "no_model"  # nothing is loaded
    BACKEND = "backend"  # the backend refused or could not serve the request (message says why)
    OUT_OF_MEMORY = "out_of_memory"  # the device (GPU or CPU) had no memory for the work; the app goes on
    DEVICE = "device"  # the device failed to compute otherwise (a Metal error); the app goes on
    UNEXPECTED = "unexpected"  # a bug: an exception nobody expected (the traceback is in the log)


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str  # for the user

    def __str__(self) -> str:
        return self.message
