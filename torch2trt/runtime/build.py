"""Engine build, in one place: logger, builder config, optimization profile, serialized engine.

Owns every call to the TensorRT builder; errors carry TensorRT's own messages. It knows nothing of
PyTorch models or converters.
"""

from __future__ import annotations

import sys
from typing import Mapping, Sequence

from .. import backend
from ..backend import trt

Shape = Sequence[int]


class EngineBuildError(RuntimeError):
    """The TensorRT builder refused the network; the message includes what TensorRT logged."""


_SEVERITY_NAMES = {"VERBOSE": 4, "INFO": 3, "WARNING": 2, "ERROR": 1, "INTERNAL_ERROR": 0}


def _severity_level(severity) -> int:
    return _SEVERITY_NAMES.get(getattr(severity, "name", str(severity)).split(".")[-1], 1)


class CapturingLogger(trt.ILogger):
    """Prints messages at or above `log_level` (as trt.Logger does) and keeps every error for reports."""

    def __init__(self, log_level=None):
        super().__init__()
        self.threshold = _severity_level(trt.Logger.ERROR if log_level is None else log_level)
        self.errors: list[str] = []

    def log(self, severity, msg):
        level = _severity_level(severity)
        if level <= 1:
            self.errors.append(msg)
        if level <= self.threshold:
            print(f"[TensorRT {getattr(severity, 'name', severity)}] {msg}", file=sys.stderr)


def new_builder(log_level=None):
    """(builder, logger): networks must be created from the builder that later builds them."""
    logger = CapturingLogger(log_level)
    return trt.Builder(logger), logger


def build_engine(builder, network, logger: CapturingLogger, *,
                 profile: Mapping[str, tuple[Shape, Shape, Shape]] | None = None,
                 max_workspace_size: int | None = None) -> bytes:
    """Build `network` into a serialized engine (bytes). `profile` maps input names to (min, opt, max)
    shapes; it is required when an input has dynamic (-1) dimensions."""
    config = builder.create_builder_config()
    backend.set_workspace(config, max_workspace_size)
    backend.configure_build_target(config)
    if profile:
        p = builder.create_optimization_profile()
        for name, (lo, opt, hi) in profile.items():
            p.set_shape(name, tuple(lo), tuple(opt), tuple(hi))
        config.add_optimization_profile(p)
    first_error = len(logger.errors)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        msgs = logger.errors[first_error:] or ["(TensorRT logged no error message)"]
        raise EngineBuildError(f"TensorRT ({backend.NAME} {backend.VERSION}) could not build the engine:\n  "
                               + "\n  ".join(msgs))
    return bytes(memoryview(serialized))
