"""torch2trt: convert a PyTorch model into a TensorRT engine with one call.

    from torch2trt import torch2trt, TRTModule, tensorrt_converter
    model_trt = torch2trt(model.eval(), [x])
"""

from . import converters  # noqa: F401  (registers the built-in converters)
from .backend import trt  # noqa: F401  (converters: `from torch2trt import trt`)
from .capture import torch2trt
from .check import check  # noqa: E402
from .dataset import Dataset, ListDataset
from .errors import ConversionError, EngineBuildError, InputError, StateError, TRTModuleError, UnsupportedArgument
from .fallback import load_fallback
from .runtime.module import TRTModule, load
from .tracing.context import ConversionContext
from .tracing.registry import tensorrt_converter
from .tracing.registry import unregister as unregister_converter

__version__ = "0.1.0"

if "torch._dynamo" in __import__("sys").modules:  # else the torch_dynamo_backends entry point registers it lazily
    from .dynamo import register as _register_dynamo_backend

    _register_dynamo_backend()

__all__ = ["torch2trt", "check", "load", "load_fallback", "TRTModule", "tensorrt_converter", "unregister_converter",
           "trt", "ConversionContext", "ConversionError", "UnsupportedArgument", "EngineBuildError", "InputError",
           "StateError", "TRTModuleError", "Dataset", "ListDataset"]
