"""Built-in converters, one module per op family; importing this package registers them all."""

from . import activation, conv, elementwise, linear, norm, pool, shape  # noqa: F401
