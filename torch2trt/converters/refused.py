"""Ops refused on purpose, each with the reason given in the error and in docs/converters.md. Most have an output
shape that depends on the data (TensorRT here builds networks whose shapes follow the inputs' shapes only), so no
converter could be exact; a few have no exact form implemented. Run them outside the converted part
(post-processing in PyTorch): with torch2trt(..., fallback=True) the module calling them stays in PyTorch, with
torch.compile(backend="torch2trt") the graph holding them runs in PyTorch."""

from __future__ import annotations

from ..tracing.registry import note_refusal, tensorrt_converter

_SHAPE = "data-dependent output shape"
_MODE = ("no exact form implemented: the most frequent value per row (the smallest among equally frequent ones) "
         "and an index of it need a comparison of every pair of elements; compute it in PyTorch")
REFUSED: dict[str, str] = {
    "torch.nonzero": f"{_SHAPE} (one row per non-zero element); torch.where(cond, x, y) keeps the shape",
    "torch.Tensor.nonzero": f"{_SHAPE} (one row per non-zero element)",
    "torch.argwhere": f"{_SHAPE} (one row per non-zero element)",
    "torch.Tensor.argwhere": f"{_SHAPE} (one row per non-zero element)",
    "torch.unique": f"{_SHAPE} (the number of distinct values)",
    "torch.Tensor.unique": f"{_SHAPE} (the number of distinct values)",
    "torch.unique_consecutive": f"{_SHAPE} (the number of runs)",
    "torch.Tensor.unique_consecutive": f"{_SHAPE} (the number of runs)",
    "torch.masked_select": f"{_SHAPE} (the number of true mask entries); torch.where(mask, x, 0) keeps the shape",
    "torch.Tensor.masked_select": f"{_SHAPE} (the number of true mask entries)",
    "torch.bincount": f"{_SHAPE} (its length is the largest value + 1); pass minlength and clamp, or one_hot + sum",
    "torch.Tensor.bincount": f"{_SHAPE} (its length is the largest value + 1)",
    "torch.ops.torchvision.nms": f"{_SHAPE} (the number of boxes kept); run detection post-processing in PyTorch",
    "torch.mode": _MODE,
    "torch.Tensor.mode": _MODE,
}
_SIGN = ("the sign bit of a NaN (and so PyTorch's answer for -NaN) cannot be read by TensorRT layers, which have no "
         "bitcast; where no NaN reaches it, torch.where(y < 0, -x.abs(), x.abs()) is exact apart from -0.0")
_SPECIAL = "no TensorRT layer computes it and no exact composition is implemented"
for _name, _reason in (("signbit", _SIGN), ("copysign", _SIGN), ("erfc", f"{_SPECIAL} (1 - erf(x) loses all relative "
                       "precision for large x)"), ("erfinv", _SPECIAL), ("lgamma", _SPECIAL), ("digamma", _SPECIAL)):
    REFUSED[f"torch.{_name}"] = REFUSED[f"torch.Tensor.{_name}"] = _reason


def _refuse(reason: str):
    def convert(ctx):
        raise ctx.unsupported(reason)

    return convert


for _target, _reason in REFUSED.items():
    try:
        tensorrt_converter(_target)(_refuse(_reason))
    except ValueError:  # a custom op whose library is not imported yet (torchvision): the tracer finds the reason
        note_refusal(_target, _reason)


