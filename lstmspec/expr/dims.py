"""Symbolic dimensions: what a shape entry can be before sizes are known.

A dimension is a symbol (``units``), an integer, a sum (``4*units`` after a
concatenation of four gates), or the output size of a convolution axis. They
compare by a canonical key, so shape inference can tell ``out_rows`` declared
in a spec from the ``conv(x, W_i)`` it must equal, and they evaluate to
integers once dims and attributes are bound.

Convolution output sizes follow TensorFlow/Keras (the spec's conventions):

- ``valid``: ``floor((n - dilation*(k - 1) - 1) / stride) + 1``
- ``same``:  ``ceil(n / stride)``; the total padding
  ``max((out - 1)*stride + dilation*(k - 1) + 1 - n, 0)`` is split with the
  smaller half before and the extra row/column after (bottom/right), because
  TensorFlow pads ``total // 2`` in front.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from math import ceil
from typing import Any, Union

from ..errors import ConfigError

Attrs = Mapping[str, Any]

_ALIASES: ContextVar[Mapping[tuple, str]] = ContextVar("dim_aliases", default={})


@contextmanager
def dim_aliases(aliases: Mapping[tuple, str]) -> Iterator[None]:
    """Render derived dims by their declared names (``out_rows``) instead of their formula.

    Used for error messages, where the name the spec author wrote reads better.
    """
    token = _ALIASES.set(aliases)
    try:
        yield
    finally:
        _ALIASES.reset(token)


class Dim:
    def key(self) -> tuple:
        raise NotImplementedError

    def evaluate(self, dims: Mapping[str, int], attrs: Attrs) -> int:
        raise NotImplementedError

    def render(self, attrs: Attrs | None = None) -> str:
        alias = _ALIASES.get().get(self.key())
        return alias if alias is not None else self._render(attrs)

    def _render(self, attrs: Attrs | None) -> str:
        raise NotImplementedError

    def symbols(self) -> set[str]:
        return set()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dim) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        return self.render()


@dataclass(frozen=True, eq=False, repr=False)
class Sym(Dim):
    name: str

    def key(self) -> tuple:
        return ("sym", self.name)

    def evaluate(self, dims: Mapping[str, int], attrs: Attrs) -> int:
        try:
            return dims[self.name]
        except KeyError:
            raise ConfigError(f"dimension {self.name!r} has no value") from None

    def _render(self, attrs: Attrs | None = None) -> str:
        return self.name

    def symbols(self) -> set[str]:
        return {self.name}


@dataclass(frozen=True, eq=False, repr=False)
class Lit(Dim):
    value: int

    def key(self) -> tuple:
        return ("lit", self.value)

    def evaluate(self, dims: Mapping[str, int], attrs: Attrs) -> int:
        return self.value

    def _render(self, attrs: Attrs | None = None) -> str:
        return str(self.value)


@dataclass(frozen=True, eq=False, repr=False)
class Sum(Dim):
    """A sum of dimensions with integer coefficients, kept in canonical order."""

    terms: tuple[tuple[int, Dim], ...]

    @staticmethod
    def of(*dims: Dim) -> Dim:
        coef: dict[tuple, list] = {}
        const = 0
        for d in dims:
            parts = d.terms if isinstance(d, Sum) else ((1, d),)
            for c, t in parts:
                if isinstance(t, Lit):
                    const += c * t.value
                    continue
                entry = coef.setdefault(t.key(), [0, t])
                entry[0] += c
        terms = tuple((c, t) for _, (c, t) in sorted(coef.items()) if c)
        if const:
            terms += ((const, Lit(1)),)
        if not terms:
            return Lit(0)
        if len(terms) == 1 and terms[0][0] == 1:
            return terms[0][1]
        if len(terms) == 1 and isinstance(terms[0][1], Lit):
            return Lit(terms[0][0])
        return Sum(terms)

    def key(self) -> tuple:
        return ("sum",) + tuple((c, t.key()) for c, t in self.terms)

    def evaluate(self, dims: Mapping[str, int], attrs: Attrs) -> int:
        return sum(c * t.evaluate(dims, attrs) for c, t in self.terms)

    def _render(self, attrs: Attrs | None = None) -> str:
        out = ""
        for c, t in self.terms:
            if isinstance(t, Lit):
                piece = str(abs(c) * t.value)
            else:
                inner = t.render(attrs)
                if isinstance(t, (Sum, ConvOut)):
                    inner = f"({inner})"
                piece = inner if abs(c) == 1 else f"{abs(c)}*{inner}"
            sign = "-" if c < 0 else "+"
            out = piece if not out and sign == "+" else f"{out} {sign} {piece}" if out else f"-{piece}"
        return out

    def symbols(self) -> set[str]:
        return set().union(*(t.symbols() for _, t in self.terms))


@dataclass(frozen=True)
class ConvOptions:
    """Padding, stride and dilation of one convolution.

    ``None`` means "taken from the spec's attribute" (``padding``, ``strides[axis]``,
    ``dilation[axis]``); a value means fixed, e.g. the recurrent convolution of
    ConvLSTM is always ``same``, stride 1, dilation 1.
    """

    padding: str | None = None
    stride: int | None = None
    dilation: int | None = None

    def resolve(self, axis: int, attrs: Attrs) -> tuple[str, int, int]:
        padding = self.padding if self.padding is not None else attrs.get("padding", "valid")
        stride = self.stride if self.stride is not None else _axis_value(attrs, "strides", axis)
        dilation = self.dilation if self.dilation is not None else _axis_value(attrs, "dilation", axis)
        return padding, stride, dilation


def _axis_value(attrs: Attrs, name: str, axis: int) -> int:
    value = attrs.get(name, 1)
    if isinstance(value, (tuple, list)):
        return int(value[axis])
    return int(value)


def conv_output_size(n: int, k: int, padding: str, stride: int, dilation: int) -> int:
    """Output length of one convolution axis (TensorFlow's rule, see module docstring)."""
    if padding == "same":
        return ceil(n / stride)
    return (n - dilation * (k - 1) - 1) // stride + 1


def same_padding(n: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's ``same``: the odd row/column goes after."""
    out = ceil(n / stride)
    total = max((out - 1) * stride + dilation * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True, eq=False, repr=False)
class ConvOut(Dim):
    size: Dim
    kernel: Dim
    axis: int
    options: ConvOptions

    @staticmethod
    def of(size: Dim, kernel: Dim, axis: int, options: ConvOptions) -> Dim:
        # `same` with stride 1 keeps the size whatever the kernel: say so symbolically.
        if options.padding == "same" and options.stride == 1:
            return size
        return ConvOut(size, kernel, axis, options)

    def key(self) -> tuple:
        o = self.options
        return ("conv", self.size.key(), self.kernel.key(), self.axis, o.padding, o.stride, o.dilation)

    def evaluate(self, dims: Mapping[str, int], attrs: Attrs) -> int:
        padding, stride, dilation = self.options.resolve(self.axis, attrs)
        return conv_output_size(self.size.evaluate(dims, attrs), self.kernel.evaluate(dims, attrs), padding, stride, dilation)

    def symbols(self) -> set[str]:
        return self.size.symbols() | self.kernel.symbols()

    def _render(self, attrs: Attrs | None = None) -> str:
        """The formula, simplified as far as the attributes in ``attrs`` allow.

        Without attributes it gives the general case of both paddings.
        """
        n, k = _wrap(self.size.render(attrs)), _wrap(self.kernel.render(attrs))
        o = self.options
        if attrs is None and o.padding is None:
            return f"valid: {self._valid(n, k, None)}; same: {self._same(n, None)}"
        padding = o.padding if o.padding is not None else (attrs or {}).get("padding", "valid")
        if padding == "same":
            return self._same(n, attrs)
        return self._valid(n, k, attrs)

    def _stride(self, attrs: Attrs | None) -> str | int:
        if self.options.stride is not None:
            return self.options.stride
        if attrs is None or "strides" not in attrs:
            return f"strides[{self.axis}]"
        return _axis_value(attrs, "strides", self.axis)

    def _dilation(self, attrs: Attrs | None) -> str | int:
        if self.options.dilation is not None:
            return self.options.dilation
        if attrs is None or "dilation" not in attrs:
            return f"dilation[{self.axis}]"
        return _axis_value(attrs, "dilation", self.axis)

    def _valid(self, n: str, k: str, attrs: Attrs | None) -> str:
        s, d = self._stride(attrs), self._dilation(attrs)
        span = f"({k} - 1)" if d == 1 else f"{d}*({k} - 1)"
        if s == 1:
            return f"{n} - {k} + 1" if d == 1 else f"{n} - {span}"
        if d == 1:  # n - (k - 1) - 1 is n - k
            return f"floor(({n} - {k}) / {s}) + 1"
        return f"floor(({n} - {span} - 1) / {s}) + 1"

    def _same(self, n: str, attrs: Attrs | None) -> str:
        s = self._stride(attrs)
        return n if s == 1 else f"ceil({n} / {s})"


def _wrap(text: str) -> str:
    return f"({text})" if " " in text else text


DimLike = Union[Dim, int, str]


def as_dim(value: DimLike) -> Dim:
    if isinstance(value, Dim):
        return value
    if isinstance(value, int):
        return Lit(value)
    return Sym(value)


Shape = tuple[Dim, ...]


def render_shape(shape: Shape, attrs: Attrs | None = None) -> str:
    parts = [d.render(attrs) for d in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def evaluate_shape(shape: Shape, dims: Mapping[str, int], attrs: Attrs) -> tuple[int, ...]:
    return tuple(d.evaluate(dims, attrs) for d in shape)
