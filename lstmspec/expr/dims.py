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


_KNOWN: ContextVar[Mapping[tuple, int]] = ContextVar("known_dims", default={})


@contextmanager
def known_sizes(sizes: Mapping[tuple, int]) -> Iterator[None]:
    """Evaluate the dims with these keys to these sizes, whatever they are derived from.

    A pipeline's recurrence reads a backbone's output, ``ceil(pixel_rows / 32)``
    rows: an array of that shape says the size without saying ``pixel_rows``.
    Binding the derived dim itself lets every shape that uses it be checked.
    """
    token = _KNOWN.set({**_KNOWN.get(), **sizes})
    try:
        yield
    finally:
        _KNOWN.reset(token)


class Dim:
    def key(self) -> tuple:
        raise NotImplementedError

    def evaluate(self, dims: Mapping[str, int], attrs: Attrs) -> int:
        known = _KNOWN.get()
        if known:
            value = known.get(self.key())
            if value is not None:
                return value
        return self._evaluate(dims, attrs)

    def _evaluate(self, dims: Mapping[str, int], attrs: Attrs) -> int:
        raise NotImplementedError

    def render(self, attrs: Attrs | None = None) -> str:
        alias = _ALIASES.get().get(self.key())
        return alias if alias is not None else self._render(attrs)

    def _render(self, attrs: Attrs | None) -> str:
        raise NotImplementedError

    def symbols(self) -> set[str]:
        return set()

    def attributes(self) -> set[str]:
        """Attributes the size depends on: ``step`` in ``ceil(rows / step)``, ``scan`` where it picks rows or cols.

        Read from the structural key: an attribute's value is ``("attr", name)``,
        a pick ``("pick", name, ...)``; a convolution adds the options it leaves
        to the attributes.
        """
        return _key_attributes(self.key())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dim) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        return self.render()


def _key_attributes(key: tuple) -> set[str]:
    found: set[str] = set()
    if len(key) >= 2 and key[0] in ("attr", "pick") and isinstance(key[1], str):
        found.add(key[1])
    for part in key:
        if isinstance(part, tuple):
            found |= _key_attributes(part)
    return found


@dataclass(frozen=True, eq=False, repr=False)
class Sym(Dim):
    name: str

    def key(self) -> tuple:
        return ("sym", self.name)

    def _evaluate(self, dims: Mapping[str, int], attrs: Attrs) -> int:
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

    def _evaluate(self, dims: Mapping[str, int], attrs: Attrs) -> int:
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

    def _evaluate(self, dims: Mapping[str, int], attrs: Attrs) -> int:
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
    # Causal mask of the kernel taps (PixelRNN, ``lstmspec.expr.masks``): None none;
    # "A" taps strictly before the output position in raster order, and at the
    # centre tap the colour groups before the output's; "B" the output's group
    # too; an attribute name: the attribute's value. ``mask_groups``: how many
    # colour groups the channels split into (an integer or an int attribute's
    # name; None: one). Shapes ignore both.
    mask: str | None = None
    mask_groups: int | str | None = None

    def resolve(self, axis: int, attrs: Attrs) -> tuple[str, int, int]:
        padding = self.padding if self.padding is not None else attrs.get("padding", "valid")
        stride = self.stride if self.stride is not None else _axis_value(attrs, "strides", axis)
        dilation = self.dilation if self.dilation is not None else _axis_value(attrs, "dilation", axis)
        return padding, stride, dilation


def _axis_value(attrs: Attrs, name: str, axis: int) -> int:
    value = attrs.get(name, 1)
    if isinstance(value, (tuple, list)):
        if not 0 <= axis < len(value):
            raise ConfigError(f"{name}={tuple(value)} has no entry for convolution axis {axis}")
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

    def _evaluate(self, dims: Mapping[str, int], attrs: Attrs) -> int:
        padding, stride, dilation = self.options.resolve(self.axis, attrs)
        return conv_output_size(self.size.evaluate(dims, attrs), self.kernel.evaluate(dims, attrs), padding, stride, dilation)

    def symbols(self) -> set[str]:
        return self.size.symbols() | self.kernel.symbols()

    def attributes(self) -> set[str]:
        o = self.options  # an option left open is read from the attribute of its name (ConvOptions.resolve)
        free = {name for name, value in (("padding", o.padding), ("strides", o.stride), ("dilation", o.dilation))
                if value is None}
        return free | self.size.attributes() | self.kernel.attributes()

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
    return f"({text})" if " " in text and not _one_call(text) else text


def _one_call(text: str) -> bool:
    """``ceil(rows / 2)``: a call whose parentheses span the rest of the text (no brackets needed around it)."""
    head, paren, _ = text.partition("(")
    if not paren or not head.isidentifier() or not text.endswith(")"):
        return False
    depth = 0
    for k, ch in enumerate(text[len(head):]):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and k < len(text) - len(head) - 1:
            return False
    return True


# ---------------------------------------------------------------------------
# Dims of image-to-sequence transforms and pipeline stages: products
# (``cols*channels``), rounded quotients (``ceil(rows / step)``), attribute
# values (``step``) and a choice by attribute (``scan=rows: ...; scan=cols: ...``).


def attr_int(attrs: Attrs, name: str) -> int:
    """An integer attribute's value; a one-entry ``ints`` attribute counts as its entry."""
    try:
        value = attrs[name]
    except KeyError:
        raise ConfigError(f"attribute {name!r} has no value") from None
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ConfigError(f"attribute {name}={value!r} is not one integer")
        value = value[0]
    return int(value)


@dataclass(frozen=True, eq=False, repr=False)
class AttrValue(Dim):
    """The value of an integer attribute used as a size (``step`` in ``ceil(rows / step)``)."""

    name: str

    def key(self) -> tuple:
        return ("attr", self.name)

    def _evaluate(self, dims: Mapping[str, int], attrs: Attrs) -> int:
        return attr_int(attrs, self.name)

    def _render(self, attrs: Attrs | None = None) -> str:
        if attrs is not None and self.name in attrs:
            return str(attr_int(attrs, self.name))
        return self.name


def _known(dim: Dim, attrs: Attrs | None) -> int | None:
    """The value of a dim that needs no sizes (a literal, or an attribute given in ``attrs``)."""
    if isinstance(dim, Lit):
        return dim.value
    if isinstance(dim, AttrValue) and attrs is not None and dim.name in attrs:
        return attr_int(attrs, dim.name)
    return None


@dataclass(frozen=True, eq=False, repr=False)
class Prod(Dim):
    """A product of dims (``cols*channels``), literal factor first, the rest as written."""

    factors: tuple[Dim, ...]

    @staticmethod
    def of(*dims: Dim) -> Dim:
        const = 1
        rest: list[Dim] = []
        for d in dims:
            for f in d.factors if isinstance(d, Prod) else (d,):
                if isinstance(f, Lit):
                    const *= f.value
                else:
                    rest.append(f)
        if const == 0 or not rest:
            return Lit(const)
        if len(rest) == 1 and not isinstance(rest[0], Sum):
            # c*units is a sum's term, so that 2*units equals units + units
            return rest[0] if const == 1 else Sum.of(Sum(((const, rest[0]),)))
        return Prod(((Lit(const),) if const != 1 else ()) + tuple(rest))

    def key(self) -> tuple:
        # the factors stay in the order written (cols*channels reads as the flattening order); equality ignores it
        return ("prod",) + tuple(sorted(f.key() for f in self.factors))

    def _evaluate(self, dims: Mapping[str, int], attrs: Attrs) -> int:
        out = 1
        for f in self.factors:
            out *= f.evaluate(dims, attrs)
        return out

    def _render(self, attrs: Attrs | None = None) -> str:
        parts = []
        const, factors = 1, []
        for f in self.factors:  # factors that need no sizes (literals, given attributes) are multiplied out
            if attrs is not None and not f.symbols():
                try:
                    const *= f.evaluate({}, attrs)
                    continue
                except ConfigError:
                    pass
            factors.append(f)
        if const != 1 or not factors:
            parts.append(str(const))
        for f in factors:
            text = f.render(attrs)
            parts.append(f"({text})" if " " in text and not text.startswith(("ceil(", "floor(")) else text)
        return "*".join(parts)

    def symbols(self) -> set[str]:
        return set().union(*(f.symbols() for f in self.factors))


@dataclass(frozen=True, eq=False, repr=False)
class Div(Dim):
    """``ceil(num / den)`` or ``floor(num / den)``: every ``den``-th row, a backbone's stride."""

    num: Dim
    den: Dim
    ceil: bool = True

    @staticmethod
    def of(num: Dim, den: Dim, ceil: bool = True) -> Dim:
        if den == Lit(1):
            return num
        if isinstance(num, Lit) and isinstance(den, Lit):
            return Lit(-(-num.value // den.value) if ceil else num.value // den.value)
        return Div(num, den, ceil)

    def key(self) -> tuple:
        return ("div", self.num.key(), self.den.key(), self.ceil)

    def _evaluate(self, dims: Mapping[str, int], attrs: Attrs) -> int:
        n, d = self.num.evaluate(dims, attrs), self.den.evaluate(dims, attrs)
        if d < 1:
            raise ConfigError(f"division by {d} in {self.render(attrs)}")
        return -(-n // d) if self.ceil else n // d

    def _render(self, attrs: Attrs | None = None) -> str:
        if _known(self.den, attrs) == 1:
            return self.num.render(attrs)
        n, d = _wrap(self.num.render(attrs)), _wrap(self.den.render(attrs))
        return f"{'ceil' if self.ceil else 'floor'}({n} / {d})"

    def symbols(self) -> set[str]:
        return self.num.symbols() | self.den.symbols()


@dataclass(frozen=True, eq=False, repr=False)
class Pick(Dim):
    """The dim chosen by a choice attribute: ``scan=rows`` gives one size, ``scan=cols`` another."""

    attr: str
    options: tuple[tuple[str, Dim], ...]

    @staticmethod
    def of(attr: str, options: Mapping[str, Dim]) -> Dim:
        values = list(options.values())
        if all(v == values[0] for v in values[1:]):
            return values[0]
        return Pick(attr, tuple(options.items()))

    def chosen(self, attrs: Attrs) -> Dim:
        value = attrs.get(self.attr)
        for option, dim in self.options:
            if option == value:
                return dim
        raise ConfigError(f"attribute {self.attr}={value!r} is none of {', '.join(o for o, _ in self.options)}")

    def key(self) -> tuple:
        return ("pick", self.attr) + tuple((o, d.key()) for o, d in self.options)

    def _evaluate(self, dims: Mapping[str, int], attrs: Attrs) -> int:
        return self.chosen(attrs).evaluate(dims, attrs)

    def _render(self, attrs: Attrs | None = None) -> str:
        if attrs is not None and self.attr in attrs:
            return self.chosen(attrs).render(attrs)
        return "; ".join(f"{self.attr}={o}: {d.render(None)}" for o, d in self.options)

    def symbols(self) -> set[str]:
        return set().union(*(d.symbols() for _, d in self.options))


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
