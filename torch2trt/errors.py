"""Every error torch2trt raises on purpose, in one module that imports nothing of the package (so that each layer
can raise and catch them without importing the layers above it). Messages say what is wrong and what would work.
"""


class ConversionError(RuntimeError):
    """A conversion failed; the message lists what and where."""


class UnsupportedArgument(Exception):
    """Raised by a converter that cannot express a call exactly; collected like an unsupported op."""


class EngineBuildError(RuntimeError):
    """The TensorRT builder refused the network; the message includes what TensorRT logged."""


class ReplayError(RuntimeError):
    """A record cannot be turned back into a layer (or the new layer does not match the record)."""


class ReferenceError(RuntimeError):  # noqa: A001  (the reference executor's; kept under its established name)
    """The reference executor cannot run a layer (unsupported type, mode or value); names the layer."""


class TRTModuleError(RuntimeError):
    """The module cannot run here, or its state is unusable."""


class InputError(ValueError):
    """A call's inputs do not match what the engine was built for."""


class StateError(TRTModuleError):
    """A saved state cannot be loaded; the message says which key and what is wrong."""


__all__ = ["ConversionError", "UnsupportedArgument", "EngineBuildError", "ReplayError", "ReferenceError",
           "TRTModuleError", "InputError", "StateError"]
