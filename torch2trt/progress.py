"""Stage lines on stderr for long work: `[resnet18] converting ... 0.41 s`."""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator


class Progress:
    """Stage lines on stderr: `[resnet18] converting ... 0.41 s`. Silent with quiet=True."""

    def __init__(self, quiet: bool = False, stream=None):
        self.quiet = quiet
        self.stream = stream or sys.stderr

    def note(self, message: str) -> None:
        if not self.quiet:
            print(message, file=self.stream, flush=True)

    @contextlib.contextmanager
    def stage(self, label: str) -> Iterator[None]:
        start = time.perf_counter()
        if not self.quiet:
            print(f"{label} ...", end="", file=self.stream, flush=True)
        try:
            yield
        except BaseException:
            if not self.quiet:
                print(" failed", file=self.stream, flush=True)
            raise
        if not self.quiet:
            print(f" {time.perf_counter() - start:.2f} s", file=self.stream, flush=True)
