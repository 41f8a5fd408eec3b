"""FLOPs counted from the spec's equations agree with the textbook formulas."""
from __future__ import annotations

from math import ceil

import pytest

import lstmspec
from lstmspec.errors import LookupFailed
from lstmspec.expr.dims import Sym
from lstmspec.flops import BACKWARD_FACTOR, Poly, bytes_moved, count_flops
from lstmspec.spec.catalog import resolve_path

LSTM_SIZES = [dict(batch=1, time=1, input=1, units=1), dict(batch=16, time=25, input=512, units=512),
              dict(batch=3, time=7, input=5, units=11), dict(batch=64, time=150, input=256, units=1024)]


@pytest.mark.parametrize("dims", LSTM_SIZES, ids=lambda d: ",".join(f"{k}={v}" for k, v in d.items()))
def test_lstm_forward_matmul_flops_are_8BTH_D_plus_H(dims):
    b, t, d, h = dims["batch"], dims["time"], dims["input"], dims["units"]
    flops = count_flops(lstmspec.load_spec("lstm")).evaluate(dims)
    assert flops.matmul == 8 * b * t * h * (d + h)
    assert flops.conv == 0
    assert flops.contraction == flops.matmul


@pytest.mark.parametrize("dims", LSTM_SIZES, ids=lambda d: ",".join(f"{k}={v}" for k, v in d.items()))
def test_deepbench_convention_counts_only_the_recurrent_matmuls_8H2BT(dims):
    b, t, h = dims["batch"], dims["time"], dims["units"]
    flops = count_flops(lstmspec.load_spec("lstm")).evaluate(dims)
    assert flops.deepbench == 8 * h * h * b * t
    # with D = H the textbook count is twice DeepBench's
    square = count_flops(lstmspec.load_spec("lstm")).evaluate({**dims, "input": h})
    assert square.contraction == 2 * square.deepbench


def test_lstm_elementwise_and_activations_are_counted_apart():
    # per step: 4 gates x 2 adds, f*c + i*g (3), o*tanh(c) (1); activations: 4 gates + tanh(c_t)
    flops = count_flops(lstmspec.load_spec("lstm")).evaluate(dict(batch=2, time=3, input=4, units=5))
    assert flops.elementwise == 12 * 2 * 3 * 5
    assert flops.activation == 5 * 2 * 3 * 5
    assert flops.total == flops.contraction + flops.elementwise + flops.activation


def test_the_formula_is_symbolic_and_reads_like_the_textbook():
    count = count_flops(lstmspec.load_spec("lstm"))
    assert count.render("contraction") == "8*batch*time*units*(input + units)"
    assert count.render("deepbench") == "8*batch*time*units^2"
    b, t, d, h = (Poly.of(Sym(n)) for n in ("batch", "time", "input", "units"))
    assert count.poly("contraction") == (b * t * h * (d + h)).scale(8)


def test_peepholes_add_elementwise_work_not_matmuls():
    dims = dict(batch=2, time=3, input=4, units=5)
    plain = count_flops(lstmspec.load_spec("lstm")).evaluate(dims)
    peep = count_flops(lstmspec.load_spec("lstm_peephole")).evaluate(dims)
    assert peep.contraction == plain.contraction
    assert peep.elementwise - plain.elementwise == 6 * 2 * 3 * 5  # 3 products P * c and their 3 additions


def test_the_count_follows_the_equations_not_a_per_layer_formula(tmp_path):
    source = resolve_path("lstm").read_text(encoding="utf-8")
    edited = source.replace('i = "recurrent_activation(x @ W_i + h @ U_i + b_i)"',
                            'i = "recurrent_activation(x @ W_i + h @ U_i + h @ U_i + b_i)"')
    assert edited != source
    path = tmp_path / "lstm_twice.toml"
    path.write_text(edited.replace('name = "lstm"', 'name = "lstm_twice"'), encoding="utf-8")
    dims = dict(batch=2, time=3, input=4, units=5)
    base = count_flops(lstmspec.load_spec("lstm")).evaluate(dims)
    more = count_flops(lstmspec.load_spec(path)).evaluate(dims)
    assert more.matmul - base.matmul == 2 * 2 * 5 * 5 * 3  # one more (batch, units) @ (units, units) per step
    assert more.recurrent - base.recurrent == 2 * 2 * 5 * 5 * 3
    assert more.elementwise - base.elementwise == 2 * 5 * 3  # one more addition


def _out(n: int, k: int, padding: str, stride: int, dilation: int) -> int:
    if padding == "same":
        return ceil(n / stride)
    return (n - dilation * (k - 1) - 1) // stride + 1


CONV2D = [
    ("valid", (1, 1), (1, 1)), ("same", (1, 1), (1, 1)), ("valid", (2, 2), (1, 1)), ("same", (2, 2), (1, 1)),
    ("valid", (1, 2), (1, 1)), ("same", (2, 1), (1, 1)), ("valid", (1, 1), (2, 2)), ("same", (1, 1), (2, 1)),
]


@pytest.mark.parametrize("padding,strides,dilation", CONV2D, ids=lambda v: str(v))
@pytest.mark.parametrize("kernel", [(3, 3), (2, 3)], ids=lambda k: f"k{k[0]}x{k[1]}")
def test_convlstm2d_conv_flops_match_the_textbook(padding, strides, dilation, kernel):
    spec = lstmspec.load_spec("convlstm2d")
    b, t, rows, cols, c, f = 2, 3, 11, 10, 3, 5
    kr, kc = kernel
    dims = dict(batch=b, time=t, rows=rows, cols=cols, channels=c, filters=f, kernel_rows=kr, kernel_cols=kc)
    config = {"padding": padding, "strides": strides, "dilation": dilation}
    flops = count_flops(spec, config).evaluate(dims)
    orow = _out(rows, kr, padding, strides[0], dilation[0])
    ocol = _out(cols, kc, padding, strides[1], dilation[1])
    # per gate and step: input conv 2*B*out*K*C*F, recurrent `same` conv over the state grid 2*B*out*K*F*F
    assert flops.conv == 8 * b * t * orow * ocol * kr * kc * f * (c + f)
    assert flops.deepbench == 8 * b * t * orow * ocol * kr * kc * f * f
    assert flops.matmul == 0
    assert flops.elementwise == 12 * b * t * orow * ocol * f


def test_convlstm_formula_uses_the_declared_output_dims():
    count = count_flops(lstmspec.load_spec("convlstm2d"), {"padding": "same", "strides": (2, 2)})
    assert count.render() == "8*batch*time*filters*kernel_rows*kernel_cols*out_rows*out_cols*(channels + filters)"


@pytest.mark.parametrize("name,axes", [("convlstm1d", 1), ("convlstm3d", 3)])
def test_convlstm_1d_and_3d_match_the_textbook(name, axes):
    spec = lstmspec.load_spec(name)
    spatial = ["rows"] if axes == 1 else ["depth", "rows", "cols"]
    kernels = ["kernel_rows"] if axes == 1 else ["kernel_depth", "kernel_rows", "kernel_cols"]
    dims = dict(batch=2, time=2, channels=3, filters=4, **{s: 9 for s in spatial}, **{k: 3 for k in kernels})
    for padding in ("valid", "same"):
        config = {"padding": padding, "strides": (2,) * axes}
        out = 1
        for _ in range(axes):
            out *= _out(9, 3, padding, 2, 1)
        flops = count_flops(spec, config).evaluate(dims)
        assert flops.conv == 8 * 2 * 2 * out * 3 ** axes * 4 * (3 + 4)


def test_grid_recurrences_count_every_cell():
    if "mdlstm2d" not in lstmspec.shipped_names():
        pytest.skip("no grid-recurrence spec shipped")
    spec = lstmspec.load_spec("mdlstm2d")
    dims = dict(batch=2, rows=3, cols=4, channels=5, units=6)
    flops = count_flops(spec).evaluate(dims)
    # 5 gates, each x @ W (D x H) and two predecessors' h @ U, h @ V (H x H), at every one of rows*cols cells
    assert flops.matmul == 5 * 2 * 2 * 3 * 4 * 6 * (5 + 2 * 6)
    assert flops.deepbench == 5 * 2 * 2 * 3 * 4 * 6 * (2 * 6)


def test_forward_backward_counts_three_times_the_contractions():
    flops = count_flops(lstmspec.load_spec("lstm")).evaluate(dict(batch=2, time=3, input=4, units=5))
    assert flops.convention("contraction", backward=True) == BACKWARD_FACTOR * flops.contraction == 3 * flops.matmul
    assert flops.convention("deepbench", backward=True) == 3 * flops.deepbench


def test_unknown_convention_lists_the_known_ones():
    flops = count_flops(lstmspec.load_spec("lstm")).evaluate()
    with pytest.raises(LookupFailed, match="unknown FLOP convention 'textbok'; available: .*contraction"):
        flops.convention("textbok")


def test_bytes_moved_counts_every_tensor_once():
    spec = lstmspec.load_spec("lstm")
    b, t, d, h = 2, 3, 4, 5
    dims = spec.resolve_dims(dict(batch=b, time=t, input=d, units=h))
    attrs = spec.resolve_config({})
    params = 4 * d * h + 4 * h * h + 4 * h
    forward = (b * t * d + params + 2 * 2 * b * h + b * t * h) * 4
    assert bytes_moved(spec, dims, attrs, 4) == forward
    assert bytes_moved(spec, dims, attrs, 4, backward=True) == 2 * forward


def test_every_shipped_spec_has_a_flop_count():
    for name in lstmspec.shipped_names():
        spec = lstmspec.load_spec(name)
        flops = count_flops(spec).evaluate()
        assert flops.contraction > 0, name
        assert 0 < flops.deepbench <= flops.contraction, name
