"""FLOPs and bytes of a spec, counted from its parsed equations.

Nothing here knows what an LSTM is: the count walks each equation's IR with
the same shape rules as lint (``lstmspec.expr.shapes``), so a new spec file
gets its FLOPs for free and a FLOP count can never disagree with the math the
reference runs. Per timestep, every node of every equation is counted once
(as written: no common sub-expression elimination):

==================  =====================================================  ==============
node                FLOPs                                                  category
==================  =====================================================  ==============
``a @ W``           2 * prod(a.shape[:-1]) * k * n  (W is (k, n))          ``matmul``
``conv(x, W)``      2 * prod(leading) * prod(out spatial) * prod(kernel)   ``conv``
                    * C_in * C_out  (out sizes with padding/strides/
                    dilation, symbolic through ``ConvOut``)
``+ - *``, unary -  1 per output element (after broadcasting)              ``elementwise``
activation          1 per element (``linear``: 0); exp, tanh and clip      ``activation``
                    all count 1, a documented convention
``concat``          0 (data movement)
==================  =====================================================  ==============

The per-step count is multiplied by the number of steps: the recurrence
axis (``time``), or the product of the scanned axes of a grid recurrence
(``rows*cols`` cells of an MDLSTM). Input
terms that the reference hoists out of the loop (``x @ W_i``) count the same
as if computed per step: FLOPs do not depend on scheduling.

A contraction (matmul or conv) is *recurrent* when it reads a state (directly,
through a grid's predecessor such as ``h_up``, or through an equation that
does); otherwise it is an *input* contraction.
Conventions derived from that split (every report labels which one it uses):

- ``contraction``: every matmul and conv, input and recurrent. The textbook
  LSTM count, ``8*B*T*H*(D+H)``; the headline GFLOP/s of ``lstmspec bench``.
- ``deepbench``: recurrent contractions only, as Baidu's DeepBench counts RNN
  FLOPs (``8*H^2*B*T`` for an LSTM).
- ``total``: contractions + elementwise + activations.

A forward+backward pass counts ``3x`` the forward contractions (the backward
pass of a product ``A @ B`` is two products of the same size), the usual
convention of training-throughput figures.

    >>> from lstmspec import load_spec
    >>> count = count_flops(load_spec("lstm"))
    >>> count.render("contraction")
    '8*batch*time*units*(input + units)'
    >>> count.evaluate({"batch": 16, "time": 25, "input": 512, "units": 512}).contraction
    1677721600
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from math import gcd, prod
from typing import Any

from .errors import ConfigError, LookupFailed
from .expr.dims import Attrs, Dim, Lit, Shape, Sum, Sym, dim_aliases
from .expr.functions import FUNCTIONS, infer_call
from .expr.ir import BinOp, Call, Name, Neg, Node, Num
from .expr.shapes import ShapeInference, broadcast, matmul
from .spec.model import Spec

CATEGORIES = ("matmul", "conv", "elementwise", "activation")

#: Activations that cost nothing (identity); every other one is 1 op per element.
FREE_ACTIVATIONS = frozenset({"linear"})

CONVENTIONS = {
    "contraction": "matmul + conv FLOPs (2 per multiply-add), input and recurrent terms",
    "deepbench": "recurrent matmul/conv FLOPs only, as DeepBench counts them (LSTM: 8*H^2*B*T)",
    "elementwise": "+, -, * and negation, 1 per output element",
    "activation": "activations, 1 per element (linear: 0)",
    "total": "contraction + elementwise + activation",
}

#: Forward+backward contraction FLOPs per forward contraction FLOP (dA and dB of each product).
BACKWARD_FACTOR = 3


# ------------------------------------------------------------------ polynomials
class Poly:
    """A polynomial with integer coefficients in dims: ``8*batch*time*units*(input + units)``.

    Monomials are products of *atomic* dims (symbols and convolution output
    sizes); sums such as ``4*units`` are expanded so that equal counts compare
    equal whatever the order of the equations.
    """

    __slots__ = ("terms",)

    def __init__(self, terms: Mapping[tuple, tuple[int, tuple[Dim, ...]]] | None = None) -> None:
        self.terms: dict[tuple, tuple[int, tuple[Dim, ...]]] = {k: v for k, v in (terms or {}).items() if v[0]}

    @staticmethod
    def const(value: int) -> "Poly":
        return Poly({(): (value, ())})

    @staticmethod
    def of(dim: Dim) -> "Poly":
        if isinstance(dim, Lit):
            return Poly.const(dim.value)
        if isinstance(dim, Sum):
            out = Poly()
            for coef, term in dim.terms:
                out = out + Poly.of(term).scale(coef)
            return out
        return Poly({(dim.key(),): (1, (dim,))})

    @staticmethod
    def product(dims: Iterable[Dim]) -> "Poly":
        out = Poly.const(1)
        for d in dims:
            out = out * Poly.of(d)
        return out

    def __add__(self, other: "Poly") -> "Poly":
        terms = dict(self.terms)
        for key, (coef, factors) in other.terms.items():
            old = terms.get(key, (0, factors))[0]
            terms[key] = (old + coef, factors)
        return Poly(terms)

    def __mul__(self, other: "Poly") -> "Poly":
        out = Poly()
        for c1, f1 in self.terms.values():
            for c2, f2 in other.terms.values():
                factors = tuple(sorted(f1 + f2, key=lambda d: repr(d.key())))
                out = out + Poly({tuple(d.key() for d in factors): (c1 * c2, factors)})
        return out

    def scale(self, k: int) -> "Poly":
        return Poly({key: (c * k, f) for key, (c, f) in self.terms.items()})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Poly) and {k: c for k, (c, _) in self.terms.items()} == {
            k: c for k, (c, _) in other.terms.items()}

    def __hash__(self) -> int:
        return hash(frozenset((k, c) for k, (c, _) in self.terms.items()))

    def is_zero(self) -> bool:
        return not self.terms

    def evaluate(self, dims: Mapping[str, int], attrs: Attrs) -> int:
        return sum(c * prod(d.evaluate(dims, attrs) for d in f) for c, f in self.terms.values())

    def symbols(self) -> set[str]:
        return set().union(*(d.symbols() for _, f in self.terms.values() for d in f)) if self.terms else set()

    def render(self, attrs: Attrs | None = None, order: Iterable[str] = ()) -> str:
        """Text with the common factor pulled out: ``8*batch*time*units*(input + units)``.

        ``order`` ranks symbol names (a spec's dims in declaration order), so
        factors read in the spec's order; others follow alphabetically.
        """
        if not self.terms:
            return "0"
        rank = {name: i for i, name in enumerate(order)}

        def sort_key(d: Dim) -> tuple:
            text = d.render(attrs)
            return (rank.get(text, len(rank)), text)

        monomials = [(c, sorted(f, key=sort_key)) for c, f in self.terms.values()]
        if len(monomials) == 1:
            return _monomial(*monomials[0], attrs)
        common_coef = 0
        for c, _ in monomials:
            common_coef = gcd(common_coef, abs(c))
        common = _multiset_intersection([f for _, f in monomials])
        rest = []
        for c, f in sorted(monomials, key=lambda m: (not m[1], [sort_key(d) for d in m[1]])):
            remaining = list(f)
            for d in common:
                remaining.remove(d)
            rest.append(_monomial(c // common_coef, remaining, attrs))
        inner = " + ".join(rest).replace("+ -", "- ")
        head = _monomial(common_coef, sorted(common, key=sort_key), attrs)
        return f"({inner})" if head == "1" else f"{head}*({inner})"

    def __repr__(self) -> str:
        return f"Poly({self.render()})"


def _multiset_intersection(groups: list[list[Dim]]) -> list[Dim]:
    common = list(groups[0])
    for group in groups[1:]:
        left = list(group)
        kept = []
        for d in common:
            if d in left:
                left.remove(d)
                kept.append(d)
        common = kept
    return common


def _monomial(coef: int, factors: list[Dim], attrs: Attrs | None) -> str:
    parts: list[str] = []
    i = 0
    while i < len(factors):
        j = i
        while j < len(factors) and factors[j] == factors[i]:
            j += 1
        text = factors[i].render(attrs)
        if " " in text:
            text = f"({text})"
        parts.append(text if j - i == 1 else f"{text}^{j - i}")
        i = j
    if coef != 1 or not parts:
        parts.insert(0, str(coef))
    return "*".join(parts)


# ---------------------------------------------------------------------- counts
@dataclass(frozen=True)
class Flops:
    """Concrete FLOPs of one forward pass over the whole sequence."""

    matmul: int
    conv: int
    elementwise: int
    activation: int
    recurrent: int  # the contractions that read a state (DeepBench's convention)

    @property
    def contraction(self) -> int:
        return self.matmul + self.conv

    @property
    def deepbench(self) -> int:
        return self.recurrent

    @property
    def total(self) -> int:
        return self.contraction + self.elementwise + self.activation

    def convention(self, name: str, *, backward: bool = False) -> int:
        """FLOPs under ``name`` (see CONVENTIONS); ``backward``: forward+backward (3x the contractions)."""
        if name not in CONVENTIONS:
            raise LookupFailed("FLOP convention", name, CONVENTIONS)
        value = getattr(self, name)
        if backward:
            if name not in ("contraction", "deepbench"):
                raise ConfigError(f"forward+backward FLOPs are counted for contractions only, not {name!r}")
            value *= BACKWARD_FACTOR
        return value


@dataclass
class FlopCount:
    """Symbolic FLOPs of a spec for one set of attributes (activations and conv options matter)."""

    spec: Spec
    attrs: dict[str, Any]
    per_step: dict[str, Poly]  # category -> FLOPs of one timestep
    recurrent_per_step: Poly  # contractions that read a state
    steps: tuple[Dim, ...]  # the recurrence axis, or a grid's scanned axes
    by_equation: dict[str, dict[str, Poly]] = field(default_factory=dict)

    def poly(self, convention: str) -> Poly:
        """Whole-sequence FLOPs under ``convention`` as a polynomial in the spec's dims."""
        steps = Poly.product(self.steps)
        if convention == "deepbench":
            return self.recurrent_per_step * steps
        if convention == "contraction":
            return (self.per_step["matmul"] + self.per_step["conv"]) * steps
        if convention == "total":
            out = Poly()
            for p in self.per_step.values():
                out = out + p
            return out * steps
        if convention in self.per_step:
            return self.per_step[convention] * steps
        raise LookupFailed("FLOP convention", convention, list(CONVENTIONS) + list(CATEGORIES))

    def render(self, convention: str = "contraction") -> str:
        """The formula in the spec's dims, derived dims by their declared names (``out_rows``)."""
        aliases = {d.derived.key(): d.name for d in self.spec.dims.values() if d.derived is not None}
        with dim_aliases(aliases):
            return self.poly(convention).render(self.attrs, order=self.spec.dims)

    def evaluate(self, dims: Mapping[str, int] | None = None) -> Flops:
        """Concrete FLOPs; missing primary dims take the spec's defaults, derived ones are computed."""
        sizes = self.spec.resolve_dims(dict(dims or {}), self.attrs)
        steps = Poly.product(self.steps)
        return Flops(
            matmul=(self.per_step["matmul"] * steps).evaluate(sizes, self.attrs),
            conv=(self.per_step["conv"] * steps).evaluate(sizes, self.attrs),
            elementwise=(self.per_step["elementwise"] * steps).evaluate(sizes, self.attrs),
            activation=(self.per_step["activation"] * steps).evaluate(sizes, self.attrs),
            recurrent=(self.recurrent_per_step * steps).evaluate(sizes, self.attrs),
        )


class _Counter:
    """Walks one equation: the shape and FLOPs of every node, with lint's shape rules."""

    def __init__(self, inference: ShapeInference, dynamic: set[str], resolve: Any) -> None:
        self.inference, self.dynamic, self.resolve = inference, dynamic, resolve
        self.counts = {c: Poly() for c in CATEGORIES}
        self.recurrent = Poly()

    def add(self, category: str, flops: Poly, node: Node) -> None:
        self.counts[category] = self.counts[category] + flops
        if category in ("matmul", "conv") and node.names() & self.dynamic:
            self.recurrent = self.recurrent + flops

    def visit(self, node: Node) -> Shape:
        if isinstance(node, (Name, Num)):
            return self.inference.infer(node)
        if isinstance(node, Neg):
            shape = self.visit(node.operand)
            self.add("elementwise", Poly.product(shape), node)
            return shape
        if isinstance(node, BinOp):
            left, right = self.visit(node.left), self.visit(node.right)
            if node.op == "@":
                out = matmul(left, right, node)
                # (..., k) @ (k, n): one multiply-add per (output element, k)
                self.add("matmul", Poly.product(out).scale(2) * Poly.of(left[-1]), node)
                return out
            out = broadcast(left, right, node)
            self.add("elementwise", Poly.product(out), node)
            return out
        if isinstance(node, Call):
            args = [self.visit(a) for a in node.args]
            name = self.resolve(node.func)
            function = FUNCTIONS.get(name)
            out = infer_call(node, function, args)
            if function.kind == "activation" and name not in FREE_ACTIVATIONS:
                self.add("activation", Poly.product(out), node)
            elif function.kind == "conv":
                kernel = args[1]  # (k..., C_in, C_out); out is (lead..., out spatial..., C_out)
                self.add("conv", Poly.product(out).scale(2) * Poly.product(kernel[:-1]), node)
            return out
        raise TypeError(f"cannot count FLOPs of {type(node).__name__}")  # the parser allows nothing else


def count_flops(spec: Spec, config: Mapping[str, Any] | None = None) -> FlopCount:
    """Symbolic FLOPs of ``spec``'s equations for ``config`` (the spec's defaults for missing attributes)."""
    attrs = spec.resolve_config(config)
    activations = {a.name for a in spec.attributes.values() if a.type == "activation"}

    def resolve(func: str) -> str:
        return attrs[func] if func in activations else func

    known = dict(spec.name_shapes())
    inference = ShapeInference(known, resolve)
    dynamic = set(spec.states) | set(getattr(spec, "predecessors", {}))
    per_step = {c: Poly() for c in CATEGORIES}
    recurrent = Poly()
    by_equation: dict[str, dict[str, Poly]] = {}
    for name in spec.order:
        node = spec.equations[name].node
        if node.names() & dynamic:
            dynamic.add(name)
        counter = _Counter(inference, dynamic, resolve)
        known[name] = counter.visit(node)
        inference.names = known
        by_equation[name] = dict(counter.counts)
        for c in CATEGORIES:
            per_step[c] = per_step[c] + counter.counts[c]
        recurrent = recurrent + counter.recurrent
    axes = getattr(spec.recurrence, "scan_axes", None) or (spec.recurrence.axis,)
    return FlopCount(spec, attrs, per_step, recurrent, tuple(Sym(a) for a in axes), by_equation)


# ----------------------------------------------------------------------- bytes
def tensor_elements(spec: Spec, dims: Mapping[str, int], attrs: Attrs) -> dict[str, int]:
    """Elements of each group a forward pass must read or write once: x, params, states, outputs."""
    out = {}
    for group, decls in (("inputs", spec.inputs), ("params", spec.params), ("states", spec.states),
                         ("outputs", spec.outputs)):
        out[group] = sum(prod(d.evaluate(dims, attrs) for d in decl.shape) for decl in decls.values())
    return out


def bytes_moved(spec: Spec, dims: Mapping[str, int], attrs: Attrs, itemsize: int, *, backward: bool = False) -> int:
    """Compulsory bytes of one pass: a lower bound, every tensor moved once.

    Forward: read the input sequence, the parameters and the initial states;
    write the outputs and the final states. The backward pass reads the
    cotangents of the outputs and final states and writes gradients of the
    input, parameters and initial states: the same amount again, so
    forward+backward is twice the forward bytes. Re-reads of the recurrent
    weights at every step are not counted (they hit cache when it is big
    enough); the roofline built on this is therefore an upper bound on speed.
    """
    n = tensor_elements(spec, dims, attrs)
    forward = (n["inputs"] + n["params"] + 2 * n["states"] + n["outputs"]) * itemsize
    return 2 * forward if backward else forward


__all__ = ["CONVENTIONS", "CATEGORIES", "BACKWARD_FACTOR", "Poly", "Flops", "FlopCount", "count_flops",
           "bytes_moved", "tensor_elements"]
