"""Moved to torch2trt/structure.py (used by tracing/ and runtime/ alike); this name stays importable."""

from ..structure import StructureError, bind, flatten, num_tensors, unflatten, validate  # noqa: F401
