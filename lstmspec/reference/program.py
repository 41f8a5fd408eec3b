"""Compile a spec's equations into a fast program and run it over a sequence.

The reference is derived from the equations, never written per layer, yet it
must be about as fast as a hand-written loop. Five rewrites, all generic:

1. **Hoisting.** A sub-expression that reads the input but no state
   (``x @ W_i``, ``conv(x, W_f)``) is computed once for all timesteps, with the
   time axis kept as an extra leading axis, then sliced per step.
2. **Fusion.** Products that share their left operand and multiply a
   parameter (``h @ U_i``, ``h @ U_f``, ...) are one product with the
   parameters concatenated on their last axis, split afterwards.
3. **Closures.** Each node becomes a Python closure once; a step is a flat
   list of calls, with no tree walking or dispatch per timestep.
4. **Regrouping.** The terms of a sum that read no state (``x @ W_i`` and
   ``b_i`` in ``x @ W_i + h @ U_i + b_i``) are added once, hoisted; a step
   adds only the terms that read a state.
5. **Fused sums.** Sums of the same form over different parameters (the four
   gates' ``x @ W_* + h @ U_* + b_*``) are one sum over the concatenated
   parameters, split afterwards: a step adds the hoisted terms to the fused
   product once, in place, instead of once per gate on strided slices. Each
   number is the same sum of the same values as in 4., so bitwise the same.

Grid recurrences (``grid.py``) run the same compiled step on every cell of an
anti-diagonal at once. Running a spec's reference, with its programs compiled
once per Spec object, is ``run.py``.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..expr.functions import FUNCTIONS, conv_options
from ..expr.ir import BinOp, Call, Name, Neg, Node, Num
from ..spec.model import Spec
from .backends import Backend
from .evaluate import conv_with_options

Env = dict[str, Any]
Fn = Callable[[Env], Any]

_FUSED = "__fused"  # per-step cache of fused products
_HOIST = "__hoisted"  # this step's slices of the hoisted terms
_WEIGHTS = "__weights"  # concatenated parameters of each fused group


class _Group:
    """Products sharing a left operand: ``L @ P1, L @ P2, ...`` or ``conv(L, P1), ...``."""

    def __init__(self, gid: int, kind: str, left: Fn, options: Any) -> None:
        self.gid = gid
        self.kind = kind
        self.left = left
        self.options = options
        self.params: list[str] = []


class _SumGroup:
    """Sums of one form over different parameters: ``x @ W_i + h @ U_i + b_i``, ``x @ W_f + ...``.

    ``form`` holds per term its sign, kind (``matmul``, ``conv`` or ``param``
    for a bare parameter), left operand and conv options; each member is the
    tuple of its parameters, one per term.
    """

    def __init__(self, gid: int, form: tuple) -> None:
        self.gid = gid
        self.form = form
        self.members: list[tuple[str, ...]] = []
        self.evaluate: Callable[[Env], list[Any]] | None = None  # the fused step, set by Program._compile_sum_group

    def add(self, params: tuple[str, ...]) -> int:
        if params not in self.members:
            self.members.append(params)
        return self.members.index(params)


class Program:
    def __init__(self, spec: Spec, attrs: Mapping[str, Any], backend: Backend) -> None:
        # weak: the cache (programs_of) holds programs while their Spec lives, and must not keep it alive
        self._spec = weakref.ref(spec)
        self.attrs = dict(attrs)
        self.be = backend
        self.states = spec.recurrent_names()  # names whose value comes from an earlier step (or cell)
        self.inputs = set(spec.core_inputs())
        self.groups: dict[tuple, _Group] = {}
        self.sum_groups: dict[tuple, _SumGroup] = {}
        self.hoisted: list[Fn] = []
        self.hoisted_varying: list[bool] = []  # True: has a time axis to slice; False: constant
        self._hoist_index: dict[Node, int] = {}
        self.dynamic: set[str] = set()  # equations that depend on a state
        self.varying: set[str] = set()  # equations that depend on the input
        self.steps: list[tuple[str, Fn]] = []
        self.step_reads_input = False
        for name in spec.order:
            node = spec.equations[name].node
            names = node.names()
            if names & (self.states | self.dynamic):
                self.dynamic.add(name)
            if names & (self.inputs | self.varying):
                self.varying.add(name)
            self.steps.append((name, self.compile(node, "step")))

    @property
    def spec(self) -> Spec:
        spec = self._spec()
        assert spec is not None, "a program runs only while its spec lives (program_for is given the spec)"
        return spec

    # -------------------------------------------------------------- analysis
    def is_dynamic(self, node: Node) -> bool:
        return bool(node.names() & (self.states | self.dynamic))

    def is_varying(self, node: Node) -> bool:
        return bool(node.names() & (self.inputs | self.varying))

    # --------------------------------------------------------------- compile
    def compile(self, node: Node, mode: str) -> Fn:
        """A closure computing ``node``; mode "seq" sees whole sequences, "step" one timestep."""
        if mode == "step" and not isinstance(node, (Name, Num)) and not self.is_dynamic(node):
            return self.hoist(node)
        if isinstance(node, Name):
            name = node.id
            if mode == "seq" and name in self.spec.equations:
                return self.compile(self.spec.equations[name].node, "seq")
            if mode == "step" and name in self.inputs:
                self.step_reads_input = True
            return lambda env: env[name]
        if isinstance(node, Num):
            value = node.value
            return lambda env: value
        if isinstance(node, Neg):
            operand = self.compile(node.operand, mode)
            return lambda env: -operand(env)
        if isinstance(node, BinOp):
            if mode == "step" and node.op in "+-":
                regrouped = self._fused_sum(node) or self._regroup_sum(node)
                if regrouped is not None:
                    return regrouped
            if node.op == "@" and self._fusable(node.right):
                return self.fused("matmul", node.left, node.right.id, None, mode)
            left, right = self.compile(node.left, mode), self.compile(node.right, mode)
            op = node.op
            if op == "+":
                return lambda env: left(env) + right(env)
            if op == "-":
                return lambda env: left(env) - right(env)
            if op == "*":
                return lambda env: left(env) * right(env)
            matmul = self.be.matmul
            return lambda env: matmul(left(env), right(env))
        if isinstance(node, Call):
            return self.compile_call(node, mode)
        raise TypeError(f"cannot compile {type(node).__name__}")  # the parser allows nothing else

    def _product(self, node: Node) -> tuple[str, Node, str, Any] | None:
        """``L @ P`` or an unmasked ``conv(L, P)`` with P a parameter: (kind, L, P, options); else None."""
        if isinstance(node, BinOp) and node.op == "@" and self._fusable(node.right):
            return "matmul", node.left, node.right.id, None
        if isinstance(node, Call) and node.func == "conv" and self._fusable(node.args[1]):
            options = conv_options(node)
            if options.mask is None:
                return "conv", node.args[0], node.args[1].id, options
        return None

    def _fused_sum(self, node: BinOp) -> Fn | None:
        """A sum of products with parameters and bare parameters, fused with its siblings (5. above).

        None when a term is anything else (a peephole ``P_i * c``), or when the
        parameters' last axes differ (a bias that broadcasts): then the sum is
        regrouped alone.
        """
        form, params, terms = [], [], _terms(node, 1)
        for sign, term in terms:
            product = self._product(term)
            if product is not None:
                kind, left, param, options = product
                form.append((sign, kind, left, options))
            elif isinstance(term, Name) and term.id in self.spec.params and self.spec.params[term.id].shape:
                form.append((sign, "param", None, None))
                param = term.id
            else:
                return None
            params.append(param)
        if len({self.spec.params[p].shape[-1].render() for p in params}) != 1:
            return None
        key = tuple(form)
        group = self.sum_groups.get(key)
        if group is None:
            group = self.sum_groups[key] = _SumGroup(len(self.sum_groups), key)
            self._compile_sum_group(group, [self.is_dynamic(t) for _, t in terms])
        evaluate = group.evaluate
        index, cache_key = group.add(tuple(params)), ("sum", group.gid)

        def member(env: Env) -> Any:
            cache = env[_FUSED]
            parts = cache.get(cache_key)
            if parts is None:
                parts = cache[cache_key] = evaluate(env)
            return parts[index]

        return member

    def _compile_sum_group(self, group: _SumGroup, dynamic: list[bool]) -> None:
        """Set the group's step: hoisted terms (one array for all steps) plus the fused products that read a state."""
        be, gid = self.be, group.gid

        def term_fn(j: int, mode: str) -> Fn:
            sign, kind, left_node, options = group.form[j]
            weights_key = ("sum", gid, j)
            if kind == "param":
                return lambda env: env[_WEIGHTS][weights_key]
            left = self.compile(left_node, mode)
            product = be.matmul if kind == "matmul" else self._conv_fn(options)
            return lambda env: product(left(env), env[_WEIGHTS][weights_key])

        # (sign, fn, whether fn's result is a temporary of ours: a product is, a parameter is not)
        static = [(group.form[j][0], term_fn(j, "seq"), group.form[j][1] != "param")
                  for j, d in enumerate(dynamic) if not d]
        steps = [(group.form[j][0], term_fn(j, "step")) for j, d in enumerate(dynamic) if d]
        hoist_index = None
        if static:
            def static_sum(env: Env) -> Any:
                """In the written order, as 4. adds them; into the first product where the backend allows:
                ``x @ W + b`` over all steps then needs no second array of batch * time * 4H numbers
                (bitwise the same sum; 0.7 of 1.9 ms saved at batch 32, time 50, 4H 1024)."""
                total, fresh = None, False
                for sign, fn, ours in static:
                    value = fn(env)
                    if total is None:
                        total, fresh = (value, ours) if sign > 0 else (-value, True)
                    elif fresh and be.in_place and np.broadcast_shapes(total.shape, value.shape) == total.shape:
                        if sign > 0:
                            total += value
                        else:
                            total -= value
                    else:
                        total, fresh = (total + value if sign > 0 else total - value), True
                return total

            hoist_index = len(self.hoisted)
            self.hoisted.append(static_sum)
            self.hoisted_varying.append(any(
                self.is_varying(group.form[j][2]) for j, d in enumerate(dynamic) if not d and group.form[j][2] is not None))

        def evaluate(env: Env) -> list[Any]:
            total, fresh = (env[_HOIST][hoist_index], False) if hoist_index is not None else (None, False)
            for sign, fn in steps:
                total, fresh = _accumulate(be, total, fresh, sign, fn(env))
            if len(group.members) == 1:
                return [total]
            return be.split(total, [env[m[0]].shape[-1] for m in group.members])

        group.evaluate = evaluate

    def _regroup_sum(self, node: BinOp) -> Fn | None:
        """``x @ W_i + h @ U_i + b_i``: add the terms that read no state once, for all steps (4. below).

        A sum is evaluated left to right as written, so ``x @ W_i + b_i`` is not a
        sub-expression of it; regrouped, the static terms are one hoisted array
        and a step adds only the dynamic ones. Floating-point sums are not
        associative: the result may differ from the written order in the last bit.
        """
        terms = _terms(node, 1)
        static = [(sign, t) for sign, t in terms if not self.is_dynamic(t)]
        dynamic = [(sign, t) for sign, t in terms if self.is_dynamic(t)]
        if len(static) < 2 or not dynamic:
            return None
        first_sign, combined = static[0]
        combined = Neg(combined, text=combined.text) if first_sign < 0 else combined
        for sign, t in static[1:]:
            combined = BinOp("+" if sign > 0 else "-", combined, t, text=f"{combined.text} {'+' if sign > 0 else '-'} {t.text}")
        parts = [(1, self.hoist(combined))] + [(sign, self.compile(t, "step")) for sign, t in dynamic]

        def total(env: Env) -> Any:
            out = parts[0][1](env)
            for sign, fn in parts[1:]:
                out = out + fn(env) if sign > 0 else out - fn(env)
            return out

        return total

    def compile_call(self, node: Call, mode: str) -> Fn:
        func = node.func
        if func in self.spec.attributes:
            func = self.attrs[func]
        function = FUNCTIONS.get(func)
        if function.kind == "activation":
            act = self.be.activation(func)
            arg = self.compile(node.args[0], mode)
            return lambda env: act(arg(env))
        if function.kind == "concat":
            parts = [self.compile(a, mode) for a in node.args]
            concat = self.be.concat
            return lambda env: concat([p(env) for p in parts])
        options = conv_options(node)
        # a masked conv is not fused with its siblings: its mask is built from its own kernel's
        # shape (the colour groups split each gate's units, not the concatenated gates')
        if self._fusable(node.args[1]) and options.mask is None:
            return self.fused("conv", node.args[0], node.args[1].id, options, mode)
        x, w = self.compile(node.args[0], mode), self.compile(node.args[1], mode)
        conv = self._conv_fn(options)
        return lambda env: conv(x(env), w(env))

    def _conv_fn(self, options: Any) -> Callable[[Any, Any], Any]:
        return conv_with_options(self.be, self.attrs, options)

    def _fusable(self, node: Node) -> bool:
        return isinstance(node, Name) and node.id in self.spec.params

    def fused(self, kind: str, left_node: Node, param: str, options: Any, mode: str) -> Fn:
        key = (mode, kind, left_node, options)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group(len(self.groups), kind, self.compile(left_node, mode), options)
        if param not in group.params:
            group.params.append(param)
        index, gid, be = group.params.index(param), group.gid, self.be
        product = be.matmul if kind == "matmul" else self._conv_fn(options)

        def member(env: Env) -> Any:
            cache = env[_FUSED]
            parts = cache.get(gid)
            if parts is None:
                weights = env[_WEIGHTS][gid]
                if len(group.params) == 1:
                    parts = [product(group.left(env), weights)]
                else:
                    # Sizes come from this run's parameters: one compiled
                    # program serves every size of the same attributes.
                    sizes = [env[p].shape[-1] for p in group.params]
                    parts = be.split(product(group.left(env), weights), sizes)
                cache[gid] = parts
            return parts[index]

        return member

    def hoist(self, node: Node) -> Fn:
        """Compute ``node`` once over the whole sequence; each step reads its slice."""
        index = self._hoist_index.get(node)
        if index is None:
            index = self._hoist_index[node] = len(self.hoisted)
            self.hoisted.append(self.compile(node, "seq"))
            self.hoisted_varying.append(self.is_varying(node))
        return lambda env: env[_HOIST][index]

    # ------------------------------------------------------------------- run
    def base_env(self, params: Mapping[str, Any]) -> Env:
        """What every step reads besides the states: parameters, float attributes, fused weights."""
        spec, be = self.spec, self.be
        base: Env = {name: be.asarray(params[name]) for name in spec.params}
        for attr in spec.attributes.values():
            if attr.type == "float":
                base[attr.name] = self.attrs[attr.name]
        base[_WEIGHTS] = {
            g.gid: base[g.params[0]] if len(g.params) == 1 else be.concat([base[p] for p in g.params])
            for g in self.groups.values()
        }
        for g in self.sum_groups.values():
            for j in range(len(g.form)):
                names = [m[j] for m in g.members]
                base[_WEIGHTS][("sum", g.gid, j)] = base[names[0]] if len(names) == 1 else be.concat(
                    [base[p] for p in names])
        return base

    def run(self, x: Any, state: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        spec, be = self.spec, self.be
        (input_name, input_decl), = spec.core_inputs().items()
        time_axis = spec.time_axis(input_decl)
        base = self.base_env(params)
        x = be.asarray(x)
        seq_env = {**base, input_name: x, _FUSED: {}}
        hoisted = [fn(seq_env) for fn in self.hoisted]
        steps_total = x.shape[time_axis]
        per_step = [be.unstack(h, time_axis) if v else None for h, v in zip(hoisted, self.hoisted_varying)]
        slices = [
            tuple(p[t] if p is not None else h for p, h in zip(per_step, hoisted)) for t in range(steps_total)
        ]
        xs = be.unstack(x, time_axis) if self.step_reads_input else None
        current = {name: be.asarray(state[name]) for name in spec.states}
        step_of = spec.first_output.step
        nexts = [(name, decl.next) for name, decl in spec.states.items()]
        outputs = []
        steps = self.steps
        for t in range(steps_total):
            env = {**base, **current, _HOIST: slices[t], _FUSED: {}}
            if xs is not None:
                env[input_name] = xs[t]
            for name, fn in steps:
                env[name] = fn(env)
            current = {name: env[nxt] for name, nxt in nexts}
            outputs.append(env[step_of])
        if not outputs:
            raise ShapeError(f"{input_name} has no timesteps ({spec.recurrence.axis} = 0)")
        y = be.stack(outputs, time_axis)
        return y, current


def _accumulate(be: Backend, total: Any, fresh: bool, sign: int, value: Any) -> tuple[Any, bool]:
    """``total ± value``, and whether the result is a temporary of ours; ``value`` is one.

    In place where the backend allows it (numpy): a step's sum then
    allocates nothing. ``a + b`` equals ``b + a`` bitwise, so writing the sum into
    ``value`` keeps the written order's result.
    """
    if total is None:
        return (value if sign > 0 else -value), True
    if not be.in_place or np.broadcast_shapes(total.shape, value.shape) != value.shape:
        return (total + value if sign > 0 else total - value), True
    if fresh and total.shape == value.shape:
        if sign > 0:
            total += value
        else:
            total -= value
        return total, True
    if sign > 0:
        value += total
    else:
        np.subtract(total, value, out=value)
    return value, True


def _terms(node: Node, sign: int) -> list[tuple[int, Node]]:
    """The signed terms of a sum: ``a - (b + c)`` -> [(1, a), (-1, b), (-1, c)]."""
    if isinstance(node, BinOp) and node.op in "+-":
        return _terms(node.left, sign) + _terms(node.right, sign if node.op == "+" else -sign)
    return [(sign, node)]


def time_axis(spec: Spec, decl: Any) -> int:
    """``spec.time_axis(decl)``, for callers that import it from here."""
    return spec.time_axis(decl)
