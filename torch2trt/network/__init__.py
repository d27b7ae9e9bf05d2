"""A TensorRT network as data: `inspect.read_network` turns an INetworkDefinition into plain records, and
`reference.run` computes a network (or its record) on the CPU with PyTorch, from TensorRT's layer semantics."""

from . import _attention_replay  # noqa: E402,F401  (registers IAttention replay in portable's tables)
