"""Typeset a spec's equations from the parsed IR: Markdown, LaTeX or plain text.

Nothing is typed twice: the equations come from ``spec.equations[name].node``
in ``spec.order``, the symbols from the function registry, the time
subscripts from the spec's roles of each name:

- an input ``x`` is ``x_t``; a state ``h`` read in an equation is ``h_{t-1}``;
- the equation a state takes as its ``next`` (``c_t``) is ``c_t``; a gate ``i`` is ``i_t``;
- ``@`` is a product written by juxtaposition (``x_t W_i``), ``*`` the Hadamard
  product ⊙, ``conv`` the convolution ∗ (its fixed options said in a note);
- an attribute that names an activation (``recurrent_activation``) is shown by
  its default's symbol (σ) and the legend says so.

Parentheses appear only where precedence needs them.

    >>> print(render_equations(load_spec("lstm"), "text"))
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import LookupFailed
from ..registry import Registry
from .dims import dim_aliases, render_shape
from .functions import FUNCTIONS
from .ir import BinOp, Call, Name, Neg, Node, Num

FORMATS = ("markdown", "latex", "text")

#: Unicode symbols of the functions whose name is not already how they are written.
TEXT_SYMBOLS = {"sigmoid": "σ", "linear": "id", "hard_sigmoid_keras2": "hard_sigmoid₀.₂"}

_UNICODE = {"odot": "⊙", "cdot": "·", "ast": "∗", "Vert": "‖"}

# Precedence: sums < products (@, *, conv) < unary minus < atoms (names, numbers, calls).
_SUM, _PRODUCT, _UNARY, _ATOM = 1, 2, 3, 4


@dataclass(frozen=True)
class _Piece:
    text: str
    prec: int
    op: str = ""  # the operator at the top, for the parenthesis rules of equal precedence


class _Typesetter:
    """Renders IR nodes of one spec in one notation (``latex`` True or False)."""

    def __init__(self, spec: Any, *, latex: bool) -> None:
        self.spec = spec
        self.latex = latex
        # the step's index: t for a sequence, i,j for a 2-D grid
        self.letters = tuple("ijklmn"[: len(spec.recurrence.scan_axes)]) if spec.is_grid else ("t",)
        self.index = ",".join(self.letters)
        self.inputs = set(spec.core_inputs())
        self.next_of = {s.next: s.name for s in spec.states.values() if s.next}
        self.scalars = {a.name for a in spec.attributes.values() if a.type == "float"}
        self.function_symbols, self.legend = self._activation_symbols()
        self.used: set[str] = set()  # operators met, for the legend
        self.convs: dict[tuple, list[str]] = {}  # conv options -> rendered first arguments

    # ----------------------------------------------------------- names
    def name(self, name: str) -> str:
        spec = self.spec
        if name in self.inputs:
            return self._subscripted(name, self.index)
        if name in spec.predecessors:
            pred = spec.predecessors[name]
            return self._subscripted(pred.state, self.shifted(pred.offset))
        if name in spec.states:
            return self._subscripted(name, "t-1")
        if name in self.next_of:
            return self._subscripted(self.next_of[name], self.index)
        if name in spec.equations:
            if name.endswith("_t"):
                return self._subscripted(name[:-2], self.index)
            return self._subscripted(name, self.index)
        return self._plain(name)

    def shifted(self, offset: tuple[int, ...]) -> str:
        """The index of a neighbouring cell: (-1, 0) -> ``i-1,j``."""
        return ",".join(f"{letter}{o:+d}" if o else letter for letter, o in zip(self.letters, offset))

    def _plain(self, name: str) -> str:
        if not self.latex:
            return name
        base, _, sub = name.rpartition("_")
        if base and len(sub) <= 3 and "_" not in base:
            return f"{_latex_base(base)}_{{{sub}}}"
        base, _, sub = name.partition("_")  # W_f_up: W with subscript f_up
        if base and sub and len(base) <= 2 and len(sub.replace("_", "")) <= 6:
            return f"{_latex_base(base)}_{{{_latex_escape(sub)}}}"
        return _latex_base(name)

    def _subscripted(self, name: str, time: str) -> str:
        base, _, sub = name.rpartition("_")
        if not base or len(sub) > 4:
            base, sub = name, ""
        index = f"{sub},{time}" if sub else time
        if self.latex:
            return f"{_latex_base(base)}_{{{index}}}" if len(index) > 1 else f"{_latex_base(base)}_{index}"
        return f"{base}_{{{index}}}" if len(index) > 1 else f"{base}_{index}"

    # ------------------------------------------------------- functions
    def _activation_symbols(self) -> tuple[dict[str, str], list[str]]:
        """Symbol of every callable name, and the legend lines for the attribute-named ones.

        Two names that would get the same symbol (``activation`` and
        ``recurrent_activation`` both defaulting to tanh) keep their own names.
        """
        symbols: dict[str, str] = {}
        legend: list[str] = []
        taken: dict[str, str] = {}
        attributes = [a for a in self.spec.attributes.values() if a.type == "activation"]
        used = {n.func for eq in self.spec.equations.values() for n in eq.node.walk() if isinstance(n, Call)}
        for attr in attributes:
            symbol = self._function_symbol(attr.default)
            if taken.get(symbol, attr.name) != attr.name:
                symbol = self._plain_function(attr.name)
            taken[symbol] = attr.name
            symbols[attr.name] = symbol
            if attr.name in used:
                legend.append(f"{self._math(symbol)} = {self._code(attr.name)} (default {attr.default})")
        for func in FUNCTIONS:
            if func in symbols:
                continue
            symbol = self._function_symbol(func)
            if taken.get(symbol, func) != func:
                symbol = self._plain_function(func)
            symbols[func] = symbol
            if func in used and FUNCTIONS.get(func).kind == "activation":
                taken[symbol] = func
                if symbol not in (func, rf"\{func}"):
                    legend.append(f"{self._math(symbol)} = {self._code(func)} ({FUNCTIONS.get(func).doc})")
        return symbols, legend

    def _function_symbol(self, func: str) -> str:
        if self.latex:
            return FUNCTIONS.get(func).latex
        return TEXT_SYMBOLS.get(func, func)

    def _plain_function(self, name: str) -> str:
        return rf"\operatorname{{{_latex_escape(name)}}}" if self.latex else name

    def symbol(self, name: str) -> str:
        """An operator symbol by its LaTeX name: ``odot`` is ``\\odot`` or ``⊙``."""
        return f"\\{name}" if self.latex else _UNICODE[name]

    def _math(self, symbol: str) -> str:
        return f"${symbol}$" if self.latex else symbol

    def _code(self, name: str) -> str:
        return rf"\texttt{{{_latex_escape(name)}}}" if self.latex else name

    # ------------------------------------------------------ expressions
    def render(self, node: Node) -> _Piece:
        handler = _HANDLERS.get(type(node))
        if handler is None:
            raise LookupFailed("IR node type to typeset", type(node).__name__, [t.__name__ for t in _HANDLERS])
        return handler(self, node)

    def _name(self, node: Name) -> _Piece:
        return _Piece(self.name(node.id), _ATOM)

    def _num(self, node: Num) -> _Piece:
        value = node.value
        return _Piece(str(int(value)) if float(value).is_integer() else repr(value), _ATOM)

    def _neg(self, node: Neg) -> _Piece:
        inner = self.render(node.operand)
        text = f"({inner.text})" if inner.prec <= _SUM else inner.text
        return _Piece(f"-{text}", _UNARY)

    def _binop(self, node: BinOp) -> _Piece:
        if node.op in "+-":
            return self._infix(node.left, node.right, node.op, f" {node.op} ", _SUM)
        if node.op == "@":
            self.used.add("@")
            return self._infix(node.left, node.right, "@", " ", _PRODUCT)
        scalar = self._is_scalar(node.left) or self._is_scalar(node.right)
        if scalar:
            self.used.add("scalar*")
            return self._infix(node.left, node.right, "·", f" {self.symbol('cdot')} ", _PRODUCT)
        self.used.add("*")
        return self._infix(node.left, node.right, "⊙", f" {self.symbol('odot')} ", _PRODUCT)

    def _infix(self, left: Node, right: Node, op: str, sign: str, prec: int) -> _Piece:
        a, b = self.render(left), self.render(right)
        # Products of different kinds (x W ⊙ y) read ambiguously: bracket them.
        left_text = f"({a.text})" if a.prec < prec or (a.prec == prec == _PRODUCT and a.op != op) else a.text
        right_paren = (
            b.prec < prec
            or (b.prec == prec and (op == "-" or b.op != op))
            or isinstance(right, Neg)
        )
        right_text = f"({b.text})" if right_paren else b.text
        return _Piece(f"{left_text}{sign}{right_text}", prec, op)

    def _call(self, node: Call) -> _Piece:
        function = FUNCTIONS.get(self.spec.attributes[node.func].default) if node.func in self.spec.attributes \
            else FUNCTIONS.get(node.func)
        if function.kind == "conv":
            options = tuple(node.kwargs)
            piece = self._infix(node.args[0], node.args[1], "∗", f" {self.symbol('ast')} ", _PRODUCT)
            self.convs.setdefault(options, []).append(self.render(node.args[0]).text)
            self.used.add("conv")
            return piece
        if function.kind == "concat":
            self.used.add("concat")
            sep = r" \,\Vert\, " if self.latex else " ‖ "
            inner = sep.join(self.render(a).text for a in node.args)
            return _Piece(rf"\left[{inner}\right]" if self.latex else f"[{inner}]", _ATOM)
        symbol = self.function_symbols[node.func]
        (arg,) = node.args
        inner = self.render(arg).text
        return _Piece(rf"{symbol}\left({inner}\right)" if self.latex else f"{symbol}({inner})", _ATOM)

    def _is_scalar(self, node: Node) -> bool:
        return isinstance(node, Num) or (isinstance(node, Name) and node.id in self.scalars)

    # ------------------------------------------------------------ notes
    def operator_notes(self) -> list[str]:
        """What the operators mean, for the operators used."""
        notes = []
        if "@" in self.used:
            example = self._example_product()
            notes.append(f"{self._math(example)} is a matrix product (each row of the batch times the matrix)")
        if "*" in self.used:
            notes.append(f"{self._math(self.symbol('odot'))} is the elementwise (Hadamard) product")
        if "scalar*" in self.used:
            notes.append(f"{self._math(self.symbol('cdot'))} multiplies by a scalar")
        if "concat" in self.used:
            notes.append(f"{self._math(self.symbol('Vert'))} concatenates along the last axis")
        if "conv" in self.used:
            star = self._math(self.symbol("ast"))
            notes.append(f"{star} is the {FUNCTIONS.get('conv').doc}")
            for options, firsts in self.convs.items():
                uses = ", ".join(self._math(f"{f} {self.symbol('ast')} " + ("\\ldots" if self.latex else "…"))
                                 for f in dict.fromkeys(firsts))
                notes.append(f"in {uses}: {self._conv_options(dict(options))}")
        return notes

    def _example_product(self) -> str:
        for eq in self.spec.equations.values():
            for node in eq.node.walk():
                if isinstance(node, BinOp) and node.op == "@":
                    return self.render(node).text
        return ""

    def _conv_options(self, options: Mapping[str, Any]) -> str:
        fixed = [f"{k}={v}" for k, v in options.items() if v != k and v not in self.spec.attributes]
        # an absent mask is no mask; any other absent option comes from the attribute of its name
        free = [k for k in FUNCTIONS.get("conv").options
                if (options.get(k, k) == k and k != "mask" or options.get(k) in self.spec.attributes)
                and options.get(k, k) in self.spec.attributes]
        parts = []
        if fixed:
            parts.append(", ".join(fixed) + " (fixed)")
        if free:
            # an option read from an attribute of another name says which: mask_groups=colours
            named = [k if options.get(k, k) == k else f"{k}={options[k]}" for k in free]
            defaults = ", ".join(f"{options.get(k, k)}={_attr_text(self.spec.attributes[options.get(k, k)].default)}"
                                 for k in free)
            parts.append(f"{', '.join(named)} from the attributes (default {defaults})")
        text = "; ".join(parts) or "no options"
        return _latex_escape(text) if self.latex else text


_HANDLERS: dict[type, Callable[[_Typesetter, Any], _Piece]] = {
    Name: _Typesetter._name,
    Num: _Typesetter._num,
    Neg: _Typesetter._neg,
    BinOp: _Typesetter._binop,
    Call: _Typesetter._call,
}

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#",
                  "$": r"\$", "{": r"\{", "}": r"\}", "^": r"\^{}", "~": r"\~{}"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def _latex_base(base: str) -> str:
    return base if len(base) == 1 else rf"\mathrm{{{_latex_escape(base)}}}"


def _attr_text(value: Any) -> str:
    return "x".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


# ------------------------------------------------------------------ documents
@dataclass(frozen=True)
class _Line:
    lhs: str
    rhs: str
    note: str


def _lines(spec: Any, setter: _Typesetter) -> list[_Line]:
    notes = dict(spec.gates)
    for state in spec.states.values():
        if state.next:
            notes[state.next] = f"new {state.doc or state.name}"
    where = f"cell ({', '.join(setter.letters)})" if spec.is_grid else "step t"
    for output in spec.outputs.values():
        if output.step:
            notes[output.step] = notes.get(output.step, "") + f"; output {output.name} at {where}"
    return [
        _Line(setter.name(name), setter.render(spec.equations[name].node).text, notes.get(name, ""))
        for name in spec.order
    ]


def _preamble(spec: Any, setter: _Typesetter) -> str:
    ins = ", ".join(setter._math(setter.name(n)) for n in setter.inputs)
    after = ", ".join(setter._math(setter._subscripted(n, setter.index)) for n in spec.states)
    if spec.is_grid:
        cell = f"({', '.join(setter.letters)})"
        parts = []
        for axis, letter in enumerate(setter.letters):
            preds = [p for p in spec.predecessors.values() if p.axis == axis]
            if preds:
                names = ", ".join(setter._math(setter.name(p.name)) for p in preds)
                bounds = ", ".join(setter._code(p.boundary) for p in preds)
                parts.append(f"{names} those of the cell before it along {spec.recurrence.axes[axis]} "
                             f"(on the first, the boundary {bounds})")
        text = (f"One cell {cell} of the grid, in scan order: {ins} is the input at cell {cell}, "
                f"{'; '.join(parts)}; {after} the states after it.")
    else:
        before = ", ".join(setter._math(setter._subscripted(n, "t-1")) for n in spec.states)
        text = f"One step t: {ins} is the input at step t, {before} the states before the step, {after} after it."
    for t in spec.transforms.values():
        ops = spec.attributes[t.op].values if t.op in spec.attributes else (t.op,)
        which = " or ".join(f"{op}({setter._code(t.source)})" for op in ops)
        text += f" The input {setter._code(t.name)} is {which}" + (
            f" (attribute {setter._code(t.op)})" if t.op in spec.attributes else "") + (f": {t.doc}." if t.doc else ".")
    if spec.stages:
        chain = " → ".join(setter._code(s.name) for s in spec.stages)
        text += f" Pipeline stages: {chain} (the recurrence is stage {setter._code(next(s.name for s in spec.stages if s.op == 'recurrence'))})."
    return text


def _shape_rows(spec: Any, setter: _Typesetter) -> list[list[str]]:
    rows = []
    transforms = {n: d for n, d in spec.core_inputs().items() if n in spec.transforms}
    for kind, group in (("input", spec.inputs), ("transform", transforms), ("state", spec.states),
                        ("boundary", spec.boundaries), ("output", spec.outputs), ("parameter", spec.params)):
        for decl in group.values():
            rows.append([decl.name, kind, render_shape(decl.shape), decl.doc])
    return rows


def _derived_dims(spec: Any) -> list[tuple[str, str, str]]:
    """(name, formula for the default attributes, general formula) of each derived dim."""
    attrs = spec.resolve_config()
    return [
        (name, decl.derived.render(attrs), decl.derived.render(None))
        for name, decl in spec.dims.items()
        if decl.derived is not None
    ]


def _aliases(spec: Any) -> dict[tuple, str]:
    return {d.derived.key(): d.name for d in spec.dims.values() if d.derived is not None}


def _latex_tabular(headers: list[str], rows: list[list[str]]) -> str:
    """A booktabs tabular of cells that are already LaTeX."""
    lines = [rf"\begin{{tabular}}{{{'l' * len(headers)}}}", r"\toprule", " & ".join(headers) + r" \\", r"\midrule"]
    lines += [" & ".join(row) + r" \\" for row in rows]
    return "\n".join(lines + [r"\bottomrule", r"\end{tabular}"])


def _aligned(lines: list[_Line]) -> str:
    return " \\\\\n".join(f"{line.lhs} &= {line.rhs}" for line in lines)


def _text_block(lines: list[_Line]) -> list[str]:
    width = max(len(f"{line.lhs} = {line.rhs}") for line in lines)
    out = []
    for line in lines:
        eq = f"{line.lhs} = {line.rhs}"
        out.append(f"{eq:<{width}}   {line.note.lstrip('; ')}".rstrip() if line.note else eq)
    return out


def _markdown(spec: Any) -> str:
    from tabulate import tabulate

    text, tex = _Typesetter(spec, latex=False), _Typesetter(spec, latex=True)
    lines, tex_lines = _lines(spec, text), _lines(spec, tex)
    out = [f"## {spec.name}: {spec.title}", "", _preamble(spec, text), "", "```text", *_text_block(lines), "```", ""]
    out += ["where", ""] + [f"- {note}" for note in text.legend + text.operator_notes()] + [""]
    out += ["$$", r"\begin{aligned}", _aligned(tex_lines), r"\end{aligned}", "$$", ""]
    with dim_aliases(_aliases(spec)):
        rows = [[f"`{r[0]}`", r[1], f"`{r[2]}`", r[3]] for r in _shape_rows(spec, text)]
    out += ["Shapes:", "", tabulate(rows, ["name", "kind", "shape", "description"], tablefmt="github")]
    derived = _derived_dims(spec)
    if derived:
        out += [""] + [f"- `{n}` = `{default}` for the default attributes; in general `{general}`"
                       for n, default, general in derived]
    return "\n".join(out) + "\n"


def _text(spec: Any) -> str:
    from tabulate import tabulate

    setter = _Typesetter(spec, latex=False)
    lines = _lines(spec, setter)
    out = [f"{spec.name}: {spec.title}", "", _preamble(spec, setter), ""]
    out += [f"  {line}" for line in _text_block(lines)]
    out += ["", "where"] + [f"  {note}" for note in setter.legend + setter.operator_notes()] + [""]
    with dim_aliases(_aliases(spec)):
        rows = _shape_rows(spec, setter)
    out += ["shapes:", tabulate(rows, ["name", "kind", "shape", "description"], tablefmt="simple")]
    out += [f"  {n} = {default} for the default attributes; in general {general}" for n, default, general in _derived_dims(spec)]
    return "\n".join(out) + "\n"


def _latex(spec: Any) -> str:

    setter = _Typesetter(spec, latex=True)
    lines = _lines(spec, setter)
    out = [f"% {spec.name}: {spec.title}", f"% typeset by: lstmspec equations {spec.name} --format latex",
           r"% needs \usepackage{amsmath,booktabs}", r"\begin{align*}", _aligned(lines), r"\end{align*}"]
    notes = setter.legend + setter.operator_notes()
    out += ["where " + ";\n".join(notes) + "." if notes else ""]
    with dim_aliases(_aliases(spec)):
        rows = [[f"${setter._plain(r[0])}$", r[1], rf"\texttt{{{_latex_escape(r[2])}}}", _latex_escape(r[3])]
                for r in _shape_rows(spec, setter)]
    out += ["", r"\begin{center}", _latex_tabular(["name", "kind", "shape", "description"], rows), r"\end{center}"]
    out += [rf"\noindent \texttt{{{_latex_escape(n)}}} = \texttt{{{_latex_escape(default)}}} for the default attributes; "
            rf"in general \texttt{{{_latex_escape(general)}}}\par" for n, default, general in _derived_dims(spec)]
    return "\n".join(out) + "\n"


_FORMATTERS: Registry[Callable[[Any], str]] = Registry("equation format",
                                                       {"markdown": _markdown, "latex": _latex, "text": _text})


def render_expression(spec: Any, expression: str | Node, *, latex: bool = False) -> str:
    """One expression of ``spec``'s language typeset, e.g. ``"f * c + i * g"`` -> ``f_t ⊙ c_{t-1} + i_t ⊙ g_t``."""
    if isinstance(expression, str):
        from .parse import parse_expression

        functions = set(FUNCTIONS.names()) | {a.name for a in spec.attributes.values() if a.type == "activation"}
        expression = parse_expression(expression, functions=functions)
    return _Typesetter(spec, latex=latex).render(expression).text


def render_equations(spec: Any, fmt: str = "markdown") -> str:
    """The equations of ``spec`` typeset in ``fmt`` (markdown, latex or text), with the legend and shapes."""
    return _FORMATTERS.get(fmt)(spec)
