"""ConversionContext: what a converter sees (network, the call and its real result) and the few helpers every
converter and the tracer need (argument lookup, constants, casts, rank broadcasting, shape tensors, dtype maps).
The layer-building helpers (dtype rules, elementwise / unary / select, reshape / transpose / concat, broadcast and
slices, dims of network tensors) live in converters/layers.py.

It must not decide which converter runs (tracing/mode.py) nor build engines (runtime/build.py).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Sequence

import numpy as np
import torch

from .. import dtypes
from ..backend import trt
from ..errors import ConversionError, UnsupportedArgument  # noqa: F401  (converters import them from here)
from .preserve import storage_key
from .preserve import version_of as _version

_REQUIRED = object()


# the dtype table lives in torch2trt/dtypes.py; these names are what converters import
torch_dtype_to_trt = dtypes.to_trt
torch_dtype_from_trt = dtypes.from_trt


def trt_dims(itensor) -> tuple[int, ...]:
    return tuple(int(d) for d in itensor.shape)


class Deferred:
    """Placed in `_trt` when a tensor's network value is made only if something uses it (e.g. the
    unfolded output of a convolution whose weights absorbed the following batch norm)."""

    def __init__(self, make: Callable[[], Any]):
        self.make = make


def get_trt(value: Any):
    """The network tensor a torch tensor carries during conversion, or None."""
    if not isinstance(value, torch.Tensor):
        return None
    itensor = getattr(value, "_trt", None)
    if isinstance(itensor, Deferred):
        itensor = value._trt = itensor.make()
    return itensor


class _Foldable:
    def __init__(self, tensor, layer, kernel, bias, make_unfolded):
        self.ref = weakref.ref(tensor)
        self.itensor = tensor._trt
        self.layer, self.kernel, self.bias, self.make_unfolded = layer, kernel, bias, make_unfolded
        self.uses = 0


class _LazyDim:
    """A dimension of an ITensor for shape_tensor(): its value is read from the network."""

    def __init__(self, ctx, itensor, index: int):
        self.ctx, self.itensor, self.index = ctx, itensor, index

    @property
    def _trt(self):
        return self.ctx.dim_tensor(self.itensor, self.index)


class ConversionContext:
    """State of one conversion. Converters read `method_args`, `method_kwargs`, `method_return` and add
    layers to `network`; they set `output._trt` on the tensors they produce (or call `set_output`)."""

    def __init__(self, network, builder=None):
        self.network = network
        self.builder = builder
        self.method = None
        self.method_name = ""
        self.method_args: tuple = ()
        self.method_kwargs: dict = {}
        self.method_return: Any = None
        self.module_path = ""
        self._constants: dict[tuple, Any] = {}
        self._keepalive: list[Any] = []       # arrays behind trt.Weights must outlive the build
        self._weight_views: list[tuple[torch.Tensor, int]] = []  # model tensors TensorRT reads without a copy
        self.snapshot = None                  # the ModelSnapshot of this conversion (weights() shares its memory)
        self._names_used: dict[str, int] = {}
        self._foldable: dict[int, _Foldable] = {}
        self.allow_folding = True
        # what converters assume of traced inputs (e.g. sorted boundaries), named in a verification error
        self.preconditions: list[str] = []
        # index outputs of selections (argmax, topk, sort, ...): id(index tensor) -> (index tensor, network tensor of
        # the values it selects from, axis or None for the flattened tensor, keepdim); verification judges an index
        # by the values it selects
        self.selections: dict[int, tuple] = {}

    # ---- arguments -------------------------------------------------------------------------------
    def get_arg(self, name: str, pos: int | None = None, default: Any = _REQUIRED) -> Any:
        """Argument by keyword `name` or position `pos` (positions count `self` for Tensor methods and
        the module for module converters), else `default`."""
        if name in self.method_kwargs:
            return self.method_kwargs[name]
        if pos is not None and pos < len(self.method_args):
            return self.method_args[pos]
        if default is _REQUIRED:
            raise UnsupportedArgument(f"{self.method_name}: missing argument {name!r}")
        return default

    def mark_selection(self, index: torch.Tensor, values: Any, axis: int | None, keepdim: bool = True) -> None:
        """`index` (a PyTorch result) selects from the network tensor `values` along `axis` (None: the flattened
        tensor; keepdim=False: the axis is gone from `index`)."""
        self.selections[id(index)] = (index, values, axis, keepdim)

    def unsupported(self, message: str) -> UnsupportedArgument:
        """`raise ctx.unsupported("...")`: refuse this call; it is reported with all other problems."""
        return UnsupportedArgument(message)

    def trt_dtype(self, dtype: torch.dtype):
        return torch_dtype_to_trt(dtype)

    # ---- tensors ---------------------------------------------------------------------------------
    def set_output(self, tensor: torch.Tensor, itensor) -> None:
        tensor._trt = itensor

    def weights(self, value: torch.Tensor | np.ndarray, dtype: torch.dtype | None = None):
        """trt.Weights from a tensor (kept alive until the engine is built).

        TensorRT reads the memory when the engine is built, after the trace. A model tensor (parameter, buffer)
        that the forward has not written so far is handed over as it is, without a copy: the model is restored
        before the build, so its memory then holds these values. A tensor converted to another dtype or layout
        here is a new tensor of ours. Anything else is copied, because the model may still change it in place."""
        if not isinstance(value, torch.Tensor):
            arr = np.ascontiguousarray(value)
            self._keepalive.append(arr)
            return trt.Weights(arr)
        self._check_dense(value)
        t = value.detach()
        if dtype is not None and t.dtype != dtype:
            t = t.to(dtype)
        if t.device.type != "cpu" or not t.is_contiguous():
            t = t.contiguous().cpu()
        if t.data_ptr() == value.data_ptr():   # still the caller's memory: share it only when that is safe
            if self.snapshot is not None and self.snapshot.unwritten(value):
                self._weight_views.append((value, storage_key(value)))
            else:
                t = t.clone()
        self._keepalive.append(t)
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16: hand TensorRT the raw bits
            return trt.Weights(trt.bfloat16, t.data_ptr(), t.numel())
        arr = t.numpy()
        self._keepalive.append(arr)
        return trt.Weights(arr)

    def owned_weights(self) -> dict[int, torch.Tensor]:
        """Data pointer -> tensor, for the weights handed to TensorRT that belong to this conversion (converted,
        folded or copied here, not the model's own memory): the network record may share them."""
        model = {t.data_ptr() for t, _ in self._weight_views}
        return {t.data_ptr(): t for t in self._keepalive
                if isinstance(t, torch.Tensor) and t.numel() and t.data_ptr() not in model}

    def check_weight_views(self) -> None:
        """After the model was restored: every model tensor handed to TensorRT without a copy still has the
        memory TensorRT reads (a restore that had to replace a tensor's storage would break that)."""
        moved = [t for t, key in self._weight_views if storage_key(t) != key]
        if moved:
            raise RuntimeError(f"torch2trt: {len(moved)} model tensor(s) handed to TensorRT without a copy changed "
                               "storage while the model was restored; please report this model")

    def _check_dense(self, t: torch.Tensor) -> None:
        """Only a dense tensor with data becomes weights (a parameter or buffer may be sparse: a forward that makes
        it dense, `w.to_dense()`, converts; one that uses it as it is does not)."""
        kind = ("a nested tensor" if t.is_nested else
                f"a sparse tensor (layout {t.layout}, shape {tuple(t.shape)})" if t.layout != torch.strided else
                f"a quantized tensor (dtype {t.dtype})" if t.is_quantized else
                "a meta tensor (no values)" if t.device.type == "meta" else None)
        if kind is not None:
            raise UnsupportedArgument(f"{self.method_name}: {kind} cannot become a TensorRT constant; make it dense "
                                      "in the model (a sparse parameter: use w.to_dense() in forward)")

    def constant(self, value: Any, dtype: torch.dtype | None = None, rank: int | None = None):
        """A network constant for a torch tensor, numpy array or Python number (cached per tensor).
        With `rank`, size-1 axes are prepended (as broadcasting would) without adding a layer."""
        if isinstance(value, torch.Tensor):
            self._check_dense(value)
        t = value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(value)
        if dtype is not None:
            t = t.to(dtype)
        if t.dtype == torch.float64:
            raise UnsupportedArgument(f"{self.method_name}: float64 constant; TensorRT has no float64")
        if rank is not None and t.dim() < rank:
            t = t.reshape((1,) * (rank - t.dim()) + tuple(t.shape))
        # keyed on the version counter too: an in-place change between two uses makes a new constant
        version = _version(value) if isinstance(value, torch.Tensor) else None
        key = (id(value), version, t.dtype, tuple(t.shape)) if version is not None else None
        if key is not None and key in self._constants:
            return self._constants[key][1]
        layer = self.network.add_constant(tuple(t.shape), self.weights(t))
        self.name_layer(layer, "constant")
        out = layer.get_output(0)
        if key is not None:
            self._constants[key] = (value, out)  # holding `value` keeps its id() from being reused
        return out

    def trt(self, value: Any, dtype: torch.dtype | None = None, rank: int | None = None):
        """ITensor for a traced tensor, or a constant for anything else; cast to `dtype` and brought to
        `rank` (size-1 axes in front) if given. A Python number without `dtype` becomes float32/int64/bool."""
        from .shapes import DynDim

        if isinstance(value, DynDim):  # a dynamic size used as a number: its 1-element int64 network value
            itensor = value._trt
            if rank is not None and rank == 0:
                itensor = self.reshape(itensor, ())
            return self.cast(itensor, dtype or torch.int64) if rank is None else \
                self.unsqueeze_to_rank(self.cast(itensor, dtype or torch.int64), rank)
        itensor = value if isinstance(value, trt.ITensor) else get_trt(value)
        if itensor is None:
            if not isinstance(value, (torch.Tensor, bool, int, float, np.ndarray, np.generic)):
                raise UnsupportedArgument(
                    f"{self.method_name}: cannot turn {type(value).__name__} into a network tensor")
            if dtype is None and isinstance(value, float):
                dtype = torch.float32
            return self.constant(value, dtype, rank)
        if dtype is not None:
            itensor = self.cast(itensor, dtype)
        return itensor if rank is None else self.unsqueeze_to_rank(itensor, rank)

    def cast(self, itensor, dtype: torch.dtype):
        target = torch_dtype_to_trt(dtype)
        if itensor.dtype == target:
            return itensor
        layer = self.network.add_cast(itensor, target)
        self.name_layer(layer, "cast")
        return layer.get_output(0)

    def reshape(self, itensor, shape: Sequence[int]):
        """Static reshape; a 0 is an empty axis, as in torch and converters.layers.reshape (what converters use: it
        also takes dynamic dims). Kept for tracing/mode.py (the write-back of in-place ops on views), which sits
        below converters/ and does not import it."""
        layer = self.network.add_shuffle(itensor)
        layer.zero_is_placeholder = False
        layer.reshape_dims = tuple(int(s) for s in shape)
        self.name_layer(layer, "reshape")
        return layer.get_output(0)

    def unsqueeze_to_rank(self, itensor, rank: int):
        """Prepend size-1 axes (as broadcasting does) until `itensor` has `rank` dims."""
        dims = trt_dims(itensor)
        if len(dims) >= rank:
            return itensor
        layer = self.network.add_shuffle(itensor)
        ones = (1,) * (rank - len(dims))
        if -1 in dims:  # dynamic: the new shape is [1, ..., 1] ++ shape(itensor)
            layer.set_input(1, self.shape_tensor([*ones, *(_LazyDim(self, itensor, i) for i in range(len(dims)))]))
        else:
            layer.reshape_dims = ones + dims
        self.name_layer(layer, "unsqueeze")
        return layer.get_output(0)

    def broadcast(self, *itensors):
        rank = max(len(t.shape) for t in itensors)
        return tuple(self.unsqueeze_to_rank(t, rank) for t in itensors)

    def operands(self, *values, dtype: torch.dtype):
        """Network tensors of one rank and `dtype` for an elementwise op. Values may be traced tensors,
        ITensors, or tensors/numbers that become constants."""
        rank = max(len(v.shape) if isinstance(v, (torch.Tensor, trt.ITensor)) else 0 for v in values)
        return tuple(self.trt(v, dtype, rank) for v in values)

    # ---- naming ----------------------------------------------------------------------------------
    def name_layer(self, layer, op: str | None = None) -> None:
        """Name a layer `<module path>/<op>` so TensorRT logs read like the model. Unique per network."""
        base = f"{self.module_path or 'model'}/{op or self.method_name.rsplit('.', 1)[-1]}"
        n = self._names_used.get(base, 0)
        self._names_used[base] = n + 1
        layer.name = base if n == 0 else f"{base}_{n}"

    # ---- reading the call ------------------------------------------------------------------------
    def dims(self, value: Any) -> tuple[int, ...]:
        return tuple(value.shape)

    def normalize_dim(self, dim: int, rank: int) -> int:
        if not -rank <= dim < max(rank, 1):
            raise UnsupportedArgument(f"{self.method_name}: dim {dim} out of range for rank {rank}")
        return dim % rank if rank else 0

    # ---- dynamic shapes (see tracing/shapes.py) ---------------------------------------------------
    def report_frozen(self, what: str) -> None:
        """A dynamic dimension reached Python code whose result is frozen at the sample's value."""
        reporter = getattr(self, "_reporter", None)
        if reporter is not None and not getattr(self, "_converting", False):
            # reported under the user's line that made it (the tracer records it), not the last converted op
            reporter("Python use of a dynamic shape", what)

    def input_dim_bounds(self, itensor) -> list[tuple[int, int]] | None:
        """Per dimension, (min, max) over the profile, for a network input (or its cast into the model's
        precision); None for other tensors (their bounds are not known here)."""
        return getattr(self, "_dim_bounds", {}).get(id(itensor))

    def set_input_dim_bounds(self, itensor, lo: Sequence[int], hi: Sequence[int], name: str | None = None,
                             sample: Sequence[int] | None = None) -> None:
        """Per dimension, the profile's (min, max) of a network input (or its cast); with the network input's
        `name` and the `sample` shape, comparisons on sizes of other tensors are decided over the profile too."""
        if not hasattr(self, "_dim_bounds"):
            self._dim_bounds = {}
        self._dim_bounds[id(itensor)] = list(zip(lo, hi))
        self._keepalive.append(itensor)  # the id must stay this tensor's
        if name is not None:
            self._profile_boxes = {**getattr(self, "_profile_boxes", {}), name: (tuple(lo), tuple(hi), tuple(sample))}

    def profile_evaluator(self):
        """The network's shapes at every shape of the profile (network/profile_eval.py), created on first use;
        None when the inputs' profile is not known."""
        boxes = getattr(self, "_profile_boxes", None)
        if not boxes:
            return None
        if getattr(self, "_profile_eval", None) is None:
            from ..network.profile_eval import ProfileEvaluator

            self._profile_eval = ProfileEvaluator(self.network, {n: (lo, hi) for n, (lo, hi, _) in boxes.items()},
                                                  {n: s for n, (_, _, s) in boxes.items()}, owned=self.owned_weights)
        return self._profile_eval

    def shape_of(self, itensor):
        """The 1-d int64 shape tensor of `itensor` (one SHAPE layer per tensor)."""
        key = ("shape", id(itensor))
        if key not in self._constants:
            layer = self.network.add_shape(itensor)
            self.name_layer(layer, "shape")
            self._constants[key] = (itensor, layer.get_output(0))
        return self._constants[key][1]

    def dim_tensor(self, itensor, index: int):
        """Dimension `index` of `itensor` as a 1-element int64 shape tensor."""
        key = ("dim", id(itensor), index)
        if key not in self._constants:
            layer = self.network.add_slice(self.shape_of(itensor), (index,), (1,), (1,))
            self.name_layer(layer, "dim")
            self._constants[key] = (itensor, layer.get_output(0))
        return self._constants[key][1]

    def dim_value(self, value: Any):
        """A size (int or DynDim) as a 1-element int64 tensor."""
        itensor = getattr(value, "_trt", None)
        if itensor is not None and not isinstance(value, torch.Tensor):
            return itensor
        return self.constant(torch.tensor([int(value)], dtype=torch.int64))

    def shape_tensor(self, sizes: Sequence[Any]):
        """A 1-d int64 tensor holding `sizes` (ints and DynDims), or None when all are plain ints."""
        from .shapes import DynDim

        if not any(isinstance(s, (DynDim, _LazyDim)) for s in sizes):
            return None
        pieces, static = [], []
        for s in sizes:
            if isinstance(s, (DynDim, _LazyDim)):
                if static:
                    pieces.append(self.constant(torch.tensor(static, dtype=torch.int64)))
                    static = []
                pieces.append(s._trt)
            else:
                static.append(int(s))
        if static:
            pieces.append(self.constant(torch.tensor(static, dtype=torch.int64)))
        if len(pieces) == 1:
            return pieces[0]
        layer = self.network.add_concatenation(pieces)
        layer.axis = 0
        self.name_layer(layer, "shape_concat")
        return layer.get_output(0)

    @property
    def dynamic(self) -> bool:
        """True when some network input has a dynamic (-1) dimension."""
        net = self.network
        return any(-1 in tuple(net.get_input(i).shape) for i in range(net.num_inputs))

    def require_static(self, *values: Any) -> None:
        """Refuse the call if a traced tensor among `values` has dynamic dims: for converters that build
        from PyTorch's concrete shapes, which would be frozen at the sample in a dynamic network."""
        for v in values:
            itensor = v if isinstance(v, trt.ITensor) else get_trt(v)
            if itensor is not None and hasattr(itensor, "shape") and -1 in tuple(itensor.shape):
                raise UnsupportedArgument(
                    f"{self.method_name}: not supported with dynamic shapes yet (input shape "
                    f"{tuple(itensor.shape)}); convert with static shapes")

    # ---- folding a per-channel affine (batch norm) into the convolution before it --------------------
    def offer_fold(self, tensor: torch.Tensor, layer, kernel: torch.Tensor, bias: torch.Tensor | None,
                   make_unfolded: Callable[[], Any]) -> None:
        """`tensor` is the output of convolution `layer` (weights `kernel`, `bias`; output channels on
        axis 1). A per-channel affine that is its only consumer may be folded into the weights;
        `make_unfolded()` rebuilds the plain convolution if the tensor is used anywhere else later."""
        if self.allow_folding:
            self._foldable[id(tensor)] = _Foldable(tensor, layer, kernel, bias, make_unfolded)

    def note_use(self, tensor: torch.Tensor) -> None:
        entry = self._foldable.get(id(tensor))
        if entry is not None:
            entry.uses += 1

    def fold_channel_affine(self, tensor: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, dtype):
        """y = tensor * scale[c] + shift[c] folded into the convolution that produced `tensor`, if that is
        exact and `tensor` has no other consumer so far. Returns y's ITensor, or None (not foldable)."""
        entry = self._foldable.pop(id(tensor), None)
        if entry is None or not getattr(self, "fold_batchnorm", True) or entry.ref() is not tensor \
                or tensor.__dict__.get("_trt") is not entry.itensor or entry.uses != 1:
            return None
        shape = (-1,) + (1,) * (entry.kernel.dim() - 1)
        kernel = entry.kernel.double() * scale.double().reshape(shape)
        bias = (entry.bias.double() if entry.bias is not None else torch.zeros_like(scale.double()))
        bias = bias * scale.double() + shift.double()
        entry.layer.kernel = self.weights(kernel, dtype)
        entry.layer.bias = self.weights(bias, dtype)
        tensor._trt = Deferred(entry.make_unfolded)
        return entry.itensor
