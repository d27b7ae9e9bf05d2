"""Engine build, in one place: logger, builder config, optimization profile, serialized engine; also the rebuild
of an engine from saved network records (`rebuild_engine`).

Owns every call to the TensorRT builder; errors carry TensorRT's own messages. It knows nothing of
PyTorch models or converters.
"""

from __future__ import annotations

import sys
from typing import Any, Mapping, Sequence

from .. import backend
from ..backend import trt
from ..errors import EngineBuildError, ReplayError
from ..network.inspect import NetworkRecord
from ..network.portable import replay

Shape = Sequence[int]


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
        hint = ""
        if max_workspace_size is not None and any("workspace" in m or "OutOfMemory" in m for m in msgs):
            hint = (f"\nThe build ran with max_workspace_size={max_workspace_size} "
                    f"({max_workspace_size / 2**20:g} MiB) as the workspace limit; leave it out (no limit) or "
                    "raise it.")
        raise EngineBuildError(f"TensorRT ({backend.NAME} {backend.VERSION}) could not build the engine:\n  "
                               + "\n  ".join(msgs) + hint)
    return bytes(memoryview(serialized))


def rebuild_engine(record: NetworkRecord, *, profile: Mapping[str, tuple[Shape, Shape, Shape]] | None = None,
                   max_workspace_size: int | None = None, log_level: Any = None) -> bytes:
    """Replay `record` with this process's TensorRT and build a serialized engine from it. `profile` maps input
    names to (min, opt, max) shapes; it is required when an input has dynamic (-1) dimensions."""
    dynamic = [name for name, _, shape in record.inputs if any(d < 0 for d in shape)]
    unprofiled = [name for name in dynamic if name not in (profile or {})]
    if unprofiled:
        raise ReplayError(f"inputs {unprofiled} have dynamic dimensions: pass profile={{name: (min, opt, max)}} "
                          "with their shapes")
    builder, logger = new_builder(log_level)
    network, builder, keepalive = replay(record, builder)
    engine = build_engine(builder, network, logger, profile=profile, max_workspace_size=max_workspace_size)
    del keepalive                                  # the serialized engine holds its own copy of the weights
    return engine


__all__ = ["EngineBuildError", "CapturingLogger", "new_builder", "build_engine", "rebuild_engine"]
