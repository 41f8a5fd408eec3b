"""The derived reference: shapes, data formats, backends, convolution, errors.

Pinned here, without frameworks (torch only for the torch backend):

- output and final-state shapes of every shipped spec at its default dims;
- channels_first is channels_last transposed (inputs, states and outputs);
- the numpy and torch backends agree to 1e-12 on every shipped spec;
- ``conv_numpy`` and ``conv_torch`` equal a naive per-pixel loop, and
  ``same`` padding of an even kernel adds the extra row/column at the end;
- ``lstm`` equals a hand-written numpy loop, ``lstm_peephole`` with P = 0
  equals ``lstm``;
- bad inputs raise ShapeError/ConfigError naming the culprit, and sizes
  that would not fit in memory are refused before anything is allocated.
"""
from __future__ import annotations

import numpy as np
import pytest

import lstmspec
from lstmspec import ConfigError, ShapeError
from lstmspec.reference.conv import conv_numpy, conv_torch

TOL = 1e-12
CONV_SPECS = ["convlstm1d", "convlstm2d", "convlstm2d_peephole", "convlstm3d"]


def max_err(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"shape={a.shape}, but should be {b.shape}"
    return float(np.max(np.abs(a - b)))


def check_run(actual, expected, tol: float, case: str) -> None:
    (y, final), (y_ref, final_ref) = actual, expected
    for name, a, b in [("y", y, y_ref)] + [(f"final[{k!r}]", final[k], final_ref[k]) for k in final_ref]:
        err = max_err(a, b)
        assert err <= tol, f"max|{name} - expected|={err:.3g}, but should be <= {tol:g} [{case}]"


def run(name, config=None, seed=0, **dims):
    spec = lstmspec.load_spec(name)
    rng = np.random.default_rng(seed)
    params = spec.random_params(config, rng, **dims)
    x, state = spec.random_inputs(config, rng, **dims)
    return spec, params, x, state


# ------------------------------------------------------------------- shapes
# name: (y, final state h and c, or each state's) at the spec's default dims and attributes (valid padding)
DEFAULT_SHAPES = {
    "lstm": ((3, 5, 6), (3, 6)),
    "lstm_peephole": ((3, 5, 6), (3, 6)),
    "lstm_projection": ((3, 5, 3), {"h": (3, 3), "c": (3, 6)}),  # h projected to proj=3, c keeps units=6
    "convlstm1d": ((2, 3, 5, 3), (2, 5, 3)),  # rows 7, kernel 3
    "convlstm2d": ((2, 3, 5, 5, 3), (2, 5, 5, 3)),  # 7x6, kernel 3x2
    "convlstm2d_peephole": ((2, 3, 5, 5, 3), (2, 5, 5, 3)),
    "convlstm3d": ((2, 3, 4, 4, 2, 3), (2, 4, 4, 2, 3)),  # 5x6x4, kernel 2x3x3
    "row_lstm": ((3, 5, 6), (3, 6)),  # a 5x3 image read row by row
    "pixelrnn_row_lstm": ((2, 4, 5, 3), (2, 5, 3)),  # 4 rows of 5 pixels; a state per row
    "cnn_lstm": ((3, 2, 6), (3, 6)),  # 64x64 pixels -> 2x2x512 ResNet-18 features -> 2 rows
    "cnn_convlstm": ((2, 3, 1, 2, 3), (2, 1, 2, 3)),  # 96x96 frames -> 3x3x1024 MobileNet features, kernel 3x2
}


#: Grid recurrences: their initial and final states are boundaries; tests/test_grid.py pins them.
GRID_SPECS = ["mdlstm2d", "spatial_lstm"]


def test_default_shape_table_covers_every_shipped_spec():
    assert sorted(list(DEFAULT_SHAPES) + GRID_SPECS) == lstmspec.shipped_names()


@pytest.mark.parametrize("name", sorted(DEFAULT_SHAPES))
def test_reference_shapes_at_default_dims(name):
    spec, params, x, state = run(name)
    y, final = spec.reference(x, state, params)
    y_shape, state_shape = DEFAULT_SHAPES[name]
    assert y.shape == y_shape, f"y.shape={y.shape}, but should be {y_shape} [{name}]"
    assert set(final) == {"h", "c"}
    for k, v in final.items():
        expected = state_shape[k] if isinstance(state_shape, dict) else state_shape
        assert v.shape == expected, f"final[{k!r}].shape={v.shape}, but should be {expected} [{name}]"
        assert v.dtype == np.float64
    np.testing.assert_array_equal(y[:, -1], final["h"])  # y holds h at every step, the last one is h_T


# ------------------------------------------------------------- data formats
@pytest.mark.parametrize("config", [dict(padding="valid"), dict(padding="same", strides=2), dict(dilation=2)],
                         ids=["valid", "same-stride2", "dilation2"])
@pytest.mark.parametrize("name", CONV_SPECS)
def test_channels_first_equals_transposed_channels_last(name, config):
    dims = dict(cols=7) if name == "convlstm3d" else {}  # the default 4 cols are too few for dilation 2
    spec, params, x, state = run(name, config, **dims)
    y, final = spec.reference(x, state, params, config)
    first = dict(config, data_format="channels_first")
    to_first = lambda a, lead: np.moveaxis(a, -1, lead)  # noqa: E731
    y_cf, final_cf = spec.reference(to_first(x, 2), {k: to_first(v, 1) for k, v in state.items()}, params, first)
    check_run((y_cf, final_cf), (to_first(y, 2), {k: to_first(v, 1) for k, v in final.items()}), TOL,
              f"{name} {first}")


@pytest.mark.parametrize("name", CONV_SPECS)
def test_random_inputs_channels_first_are_transposed_channels_last(name):
    spec = lstmspec.load_spec(name)
    x, state = spec.random_inputs({}, 5)
    x_cf, state_cf = spec.random_inputs({"data_format": "channels_first"}, 5)
    np.testing.assert_array_equal(x_cf, np.moveaxis(x, -1, 2))
    for k in state:
        np.testing.assert_array_equal(state_cf[k], np.moveaxis(state[k], -1, 1))


# ----------------------------------------------------------------- backends
BACKEND_CASES = [(name, {}) for name in sorted(DEFAULT_SHAPES)] + [
    (name, dict(padding="same", strides=2)) for name in CONV_SPECS
] + [
    ("convlstm2d", dict(dilation=(2, 1), recurrent_activation="hard_sigmoid")),
    ("lstm", dict(activation="relu", recurrent_activation="hard_sigmoid_keras2")),
]


@pytest.mark.parametrize("name, config", BACKEND_CASES, ids=lambda v: v if isinstance(v, str) else str(v or "default"))
def test_numpy_and_torch_backends_agree_to_1e12(name, config):
    torch = pytest.importorskip("torch")
    spec, params, x, state = run(name, config, seed=4)
    y, final = spec.reference(x, state, params, config)
    y_t, final_t = spec.reference(x, state, params, config, backend="torch")
    assert isinstance(y_t, torch.Tensor) and y_t.dtype == torch.float64
    check_run((y_t.numpy(), {k: v.numpy() for k, v in final_t.items()}), (y, final), TOL, f"{name} {config}")


# ------------------------------------------------------------- convolution
def tf_same_pads(size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    # TensorFlow: out = ceil(size / stride); the odd padded row goes after (bottom/right)
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def naive_conv(x, w, padding, strides, dilation):
    """Cross-correlation one output pixel at a time: x (B, s..., C), w (k..., C, F)."""
    n = w.ndim - 2
    kernel = w.shape[:n]
    pads = [tf_same_pads(*a) if padding == "same" else (0, 0) for a in zip(x.shape[1:1 + n], kernel, strides, dilation)]
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    outs = [(p - d * (k - 1) - 1) // s + 1 for p, k, s, d in zip(xp.shape[1:1 + n], kernel, strides, dilation)]
    y = np.zeros((x.shape[0], *outs, w.shape[-1]))
    for b in range(x.shape[0]):
        for pos in np.ndindex(*outs):
            for off in np.ndindex(*kernel):
                src = tuple(o * s + k * d for o, k, s, d in zip(pos, off, strides, dilation))
                y[(b, *pos)] += xp[(b, *src)] @ w[off]
    return y


CONV_CASES = [
    # spatial, kernel, padding, strides, dilation
    ((9,), (3,), "valid", (1,), (1,)),
    ((9,), (2,), "same", (1,), (1,)),
    ((8,), (4,), "same", (3,), (1,)),
    ((10,), (3,), "same", (1,), (3,)),
    ((7, 6), (3, 2), "valid", (1, 1), (1, 1)),
    ((7, 6), (2, 2), "same", (1, 1), (1, 1)),
    ((7, 6), (3, 3), "same", (2, 2), (1, 1)),
    ((7, 6), (2, 3), "same", (1, 2), (2, 1)),  # strides and dilation together (TF refuses; the math does not)
    ((8, 5), (3, 2), "valid", (2, 1), (1, 2)),
    ((5, 6, 4), (2, 3, 2), "same", (1, 1, 1), (1, 1, 1)),
    ((5, 6, 4), (3, 2, 2), "valid", (2, 1, 2), (1, 2, 1)),
    ((4, 5, 6), (2, 2, 3), "same", (2, 2, 1), (1, 1, 2)),
]


@pytest.mark.parametrize("spatial, kernel, padding, strides, dilation", CONV_CASES,
                         ids=lambda v: v if isinstance(v, str) else "x".join(map(str, v)))
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_conv_equals_naive_loop(backend, spatial, kernel, padding, strides, dilation):
    rng = np.random.default_rng(6)
    # two leading axes (batch and time), as the hoisted input term has
    x = rng.standard_normal((2, 3, *spatial, 3))
    w = rng.standard_normal((*kernel, 3, 4))
    expected = np.stack([naive_conv(x[:, t], w, padding, strides, dilation) for t in range(3)], axis=1)
    if backend == "torch":
        torch = pytest.importorskip("torch")
        got = conv_torch(torch.from_numpy(x), torch.from_numpy(w), padding, strides, dilation).numpy()
    else:
        got = conv_numpy(x, w, padding, strides, dilation)
    err = max_err(got, expected)
    assert err <= TOL, (f"max|conv_{backend} - naive loop|={err:.3g}, but should be <= {TOL:g} "
                        f"[x {x.shape} * w {w.shape} {padding} strides={strides} dilation={dilation}]")


@pytest.mark.parametrize("strides", [(1, 1), (2, 2)])
def test_same_padding_of_even_kernel_puts_extra_row_and_column_at_the_end(strides):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 7, 6, 3))  # stride 1 and 2 both need one padded row/column here
    w = rng.standard_normal((2, 2, 3, 4))
    same = conv_numpy(x, w, "same", strides, (1, 1))
    end = conv_numpy(np.pad(x, [(0, 0), (0, 1), (0, 1), (0, 0)]), w, "valid", strides, (1, 1))
    start = conv_numpy(np.pad(x, [(0, 0), (1, 0), (1, 0), (0, 0)]), w, "valid", strides, (1, 1))
    assert max_err(same, end) <= TOL
    assert max_err(same, start) > 1e-3  # the comparison can tell the two sides apart


def test_convlstm2d_same_even_kernel_equals_valid_on_input_padded_at_the_end():
    spec, params, x, state = run("convlstm2d", dict(padding="same"), kernel_rows=2, kernel_cols=2)
    same = spec.reference(x, state, params, dict(padding="same"))
    padded = np.pad(x, [(0, 0), (0, 0), (0, 1), (0, 1), (0, 0)])
    check_run(spec.reference(padded, state, params, dict(padding="valid")), same, TOL, "convlstm2d same vs padded valid")


# ------------------------------------------------------------ LSTM equations
def plain_lstm(x, h, c, p):
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    ys = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        i = sigmoid(xt @ p["W_i"] + h @ p["U_i"] + p["b_i"])
        f = sigmoid(xt @ p["W_f"] + h @ p["U_f"] + p["b_f"])
        g = np.tanh(xt @ p["W_g"] + h @ p["U_g"] + p["b_g"])
        o = sigmoid(xt @ p["W_o"] + h @ p["U_o"] + p["b_o"])
        c = f * c + i * g
        h = o * np.tanh(c)
        ys.append(h)
    return np.stack(ys, axis=1), {"h": h, "c": c}


@pytest.mark.parametrize("dims", [dict(), dict(batch=4, time=1, input=3, units=5), dict(batch=1, time=9, units=2)],
                         ids=["default", "time1", "batch1"])
def test_lstm_reference_equals_hand_written_loop(dims):
    spec, params, x, state = run("lstm", seed=8, **dims)
    check_run(spec.reference(x, state, params), plain_lstm(x, state["h"], state["c"], params), TOL, f"lstm {dims}")


def test_lstm_peephole_with_zero_peepholes_equals_lstm():
    peephole, params, x, state = run("lstm_peephole", seed=9, units=5)
    assert max(np.abs(params[p]).max() for p in ("P_i", "P_f", "P_o")) > 0.1  # nonzero to begin with
    with_p = peephole.reference(x, state, params)
    zeroed = dict(params, P_i=np.zeros(5), P_f=np.zeros(5), P_o=np.zeros(5))
    plain = {k: v for k, v in params.items() if not k.startswith("P_")}
    check_run(peephole.reference(x, state, zeroed), lstmspec.load_spec("lstm").reference(x, state, plain), 1e-14,
              "lstm_peephole(P=0) vs lstm")
    assert max_err(with_p[0], peephole.reference(x, state, zeroed)[0]) > 1e-3  # the peepholes do act


# ------------------------------------------------------------------- errors
def test_param_of_wrong_shape_raises_shape_error_naming_it():
    spec, params, x, state = run("lstm")
    params["W_f"] = np.zeros((5, 6))  # input is 4
    with pytest.raises(ShapeError, match=r"params\['W_f'\].*\(5, 6\)"):
        spec.reference(x, state, params)


def test_state_of_wrong_shape_raises_shape_error_naming_it():
    spec, params, x, state = run("convlstm2d")
    state["c"] = np.zeros((2, 5, 4, 3))
    with pytest.raises(ShapeError, match=r"state\['c'\]"):
        spec.reference(x, state, params)


def test_missing_param_raises_shape_error_naming_it():
    spec, params, x, state = run("lstm")
    del params["b_o"]
    with pytest.raises(ShapeError, match="b_o"):
        spec.reference(x, state, params)


@pytest.mark.parametrize("call", ["reference", "random_params", "random_inputs"])
def test_unknown_config_key_raises_config_error_naming_it(call):
    spec, params, x, state = run("convlstm2d")
    bad = {"paddin": "same"}
    with pytest.raises(ConfigError, match="'paddin'.*padding"):
        if call == "reference":
            spec.reference(x, state, params, bad)
        else:
            getattr(spec, call)(bad, 0)


def test_kernel_larger_than_input_raises_config_error():
    spec = lstmspec.load_spec("convlstm2d")
    with pytest.raises(ConfigError, match="kernel is larger"):
        spec.random_params({}, 0, rows=2, kernel_rows=3)
    params = spec.random_params({}, 0)  # kernel 3x2
    x = np.zeros((2, 3, 2, 6, 2))  # only 2 rows
    state = {k: np.zeros((2, 1, 5, 3)) for k in ("h", "c")}
    with pytest.raises(ConfigError, match="kernel is larger"):
        spec.reference(x, state, params)


def test_sizes_that_do_not_fit_in_memory_raise_config_error_before_allocating():
    spec = lstmspec.load_spec("lstm")
    with pytest.raises(ConfigError, match="memory"):
        spec.random_params({}, 0, units=10**7, input=10**6)
    with pytest.raises(ConfigError, match="memory"):
        spec.random_inputs({}, 0, units=10**7, input=10**6)
    # Read-only broadcast views describe terabytes without holding them; the
    # reference must refuse from the shapes alone (allocating would MemoryError).
    units, n_in = 10**5, 10**6
    params = {k: np.broadcast_to(0.0, (n_in if k.startswith("W") else units, units)) for k in spec.params if k[0] in "WU"}
    params.update({k: np.broadcast_to(0.0, (units,)) for k in spec.params if k[0] == "b"})
    x = np.broadcast_to(0.0, (3, 5, n_in))
    state = {k: np.broadcast_to(0.0, (3, units)) for k in spec.states}
    with pytest.raises(ConfigError, match="memory"):
        spec.reference(x, state, params)


# ----------------------------------------------- one spec object, many sizes
@pytest.mark.parametrize("name, first, second", [("lstm", dict(units=6), dict(units=5)),
                                                 ("convlstm2d", dict(filters=3), dict(filters=4))])
def test_one_spec_object_runs_different_sizes_in_a_row(name, first, second):
    spec = lstmspec.load_spec(name)
    for dims in (first, second):
        params = spec.random_params({}, 0, **dims)
        x, state = spec.random_inputs({}, 1, **dims)
        y, _ = spec.reference(x, state, params)
        assert y.shape[-1] == next(iter(dims.values()))


# ---------------------------------------------------------------- data formats, the program cache
def test_one_data_format_rule_for_arrays_and_shapes():
    from lstmspec.reference.data_format import from_format, leading_axes, shape_in, to_format

    spec = lstmspec.load_spec("convlstm2d")
    x = np.arange(2 * 3 * 7 * 6 * 4).reshape(2, 3, 7, 6, 4)
    lead = leading_axes(spec, spec.first_input.shape)
    assert lead == 2 and to_format(x, lead, "channels_first").shape == (2, 3, 4, 7, 6)
    assert np.array_equal(from_format(to_format(x, lead, "channels_first"), lead, "channels_first"), x)
    assert to_format(x, lead, "channels_last") is x
    names = [d.render() for d in spec.first_input.shape]
    assert shape_in(names, lead, "channels_first") == ("batch", "time", "channels", "rows", "cols")
    # parameters (no leading axes) and tensors without spatial axes keep their layout
    assert shape_in(["kernel_rows", "kernel_cols", "channels", "filters"], 0, "channels_first")[-1] == "filters"
    assert to_format(np.zeros((2, 5)), 1, "channels_first").shape == (2, 5)


def test_programs_are_compiled_once_per_spec_object_and_kept_off_the_spec():
    import dataclasses
    import gc

    from lstmspec.reference import run

    spec = lstmspec.load_spec("lstm")
    params = spec.random_params(None, 0)
    x, state = spec.random_inputs(None, 1)
    run.programs_of(spec).clear()
    spec.reference(x, state, params)
    first = dict(run.programs_of(spec))
    spec.reference(x, state, params)
    assert run.programs_of(spec) == first and len(first) == 1
    assert not any(f.name.startswith("_") for f in dataclasses.fields(spec)), "the Spec holds no cache"
    edited = dataclasses.replace(spec, title="edited copy")
    edited.reference(x, state, params)
    assert set(map(id, run.programs_of(edited).values())).isdisjoint(map(id, first.values()))
    key = id(edited)
    del edited
    gc.collect()
    assert key not in run._PROGRAMS


@pytest.mark.parametrize("name", ["convlstm2d_peephole", "convlstm2d", "convlstm1d", "convlstm3d"])
def test_torch_reference_gradients_work_with_a_single_filter(name):
    """torch's CPU conv backward refuses a strided weight view with a size-1 axis; the reference must not."""
    pytest.importorskip("torch")
    from lstmspec.check.cases import make_case
    from lstmspec.check.oracle import make_data, reference

    spec = lstmspec.load_spec(name)
    for padding in ("valid", "same"):
        expected = reference(make_data(spec, make_case(spec, {"filters": 1}, {"padding": padding}), 0))
        assert expected.grads and all(np.all(np.isfinite(g)) for g in expected.grads.values())
