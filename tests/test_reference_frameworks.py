"""The derived reference matches the real frameworks' layers, with no mocks.

Pinned here:

- ``lstm`` equals ``keras.layers.LSTM`` and ``torch.nn.LSTM`` (float64, both
  ``batch_first`` settings, PyTorch's bias split at random) to 1e-12;
- ``convlstm1d/2d/3d`` equal ``keras.layers.ConvLSTM1D/2D/3D`` (float64) to
  1e-12 over padding, strides, dilation, odd/even kernels, non-square inputs;
- ``lstm_peephole`` equals ONNX Runtime's ``LSTM`` with ``P``, and ``lstm``
  equals it without ``P`` (float32: ORT has no float64 LSTM).

Weights always travel through the spec's layouts, so a wrong gate order in a
spec file fails here. Every case starts from nonzero initial states, and
batch != time so that a swapped axis cannot pass.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import pytest

import lstmspec

F64_TOL = 1e-12
F32_TOL = 1e-5  # float32 LSTM arithmetic over a few steps; observed errors are ~1e-7


def check_close(name: str, actual, expected, tol: float, case: str) -> None:
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{name}.shape={actual.shape}, but should be {expected.shape} [{case}]"
    err = float(np.max(np.abs(actual - expected)))
    assert err <= tol, f"max|{name} - reference|={err:.3g}, but should be <= {tol:g} [{case}]"


def check_outputs(outputs, y, final, tol: float, case: str) -> None:
    """``outputs`` is (y, h_T, c_T) from a framework, already in the spec's layout."""
    for name, actual, expected in zip(("y", "h_T", "c_T"), outputs, (y, final["h"], final["c"])):
        check_close(name, actual, expected, tol, case)


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def onnx_runtime():
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    return onnx, ort


def run_keras_layer(layer, spec, params, x, state):
    """Build ``layer``, load ``params`` through the spec's keras layout, run from ``state``."""
    layer.build(x.shape)
    tensors = spec.layout("keras").to_framework(params)
    layer.set_weights([tensors[w.name] for w in layer.weights])
    y, h, c = layer(x, initial_state=[state["h"], state["c"]])
    return [np.asarray(t) for t in (y, h, c)]


# ------------------------------------------------------------------------ LSTM
LSTM_SHAPES = [
    pytest.param(dict(batch=3, time=5, input=4, units=6), id="batch3-time5"),
    pytest.param(dict(batch=4, time=1, input=3, units=5), id="time1"),
    pytest.param(dict(batch=1, time=7, input=5, units=2), id="batch1-time7"),
]

KERAS_ACTIVATIONS = [
    ("tanh", "sigmoid"),
    ("tanh", "hard_sigmoid"),  # Keras 3: clip(x/6 + 0.5, 0, 1), lstmspec's hard_sigmoid
    ("relu", "sigmoid"),
    ("linear", "hard_sigmoid"),
    ("tanh", "linear"),
]


def lstm_case(config, dims, seed=0):
    spec = lstmspec.load_spec("lstm")
    rng = np.random.default_rng(seed)
    params = spec.random_params(config, rng, **dims)
    x, state = spec.random_inputs(config, rng, **dims)
    y, final = spec.reference(x, state, params, config)
    return spec, params, x, state, y, final


@pytest.mark.parametrize("dims", LSTM_SHAPES)
@pytest.mark.parametrize("activation, recurrent_activation", KERAS_ACTIVATIONS)
def test_lstm_reference_matches_keras_lstm_to_1e12(keras, dims, activation, recurrent_activation):
    config = dict(activation=activation, recurrent_activation=recurrent_activation)
    spec, params, x, state, y, final = lstm_case(config, dims)
    layer = keras.layers.LSTM(
        dims["units"], activation=activation, recurrent_activation=recurrent_activation,
        return_sequences=True, return_state=True, dtype="float64",
    )
    outputs = run_keras_layer(layer, spec, params, x, state)
    check_outputs(outputs, y, final, F64_TOL, f"keras.layers.LSTM {config} {dims}")


@pytest.mark.parametrize("dims", LSTM_SHAPES)
@pytest.mark.parametrize("batch_first", [True, False])
def test_lstm_reference_matches_torch_lstm_to_1e12(torch, dims, batch_first):
    spec, params, x, state, y, final = lstm_case({}, dims, seed=1)
    layer = torch.nn.LSTM(dims["input"], dims["units"], batch_first=batch_first, dtype=torch.float64)
    # rng: bias_ih and bias_hh get a random split of b, so ignoring either one fails
    tensors = spec.layout("torch").to_framework(params, np.random.default_rng(2))
    layer.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    xt = torch.from_numpy(x if batch_first else np.ascontiguousarray(np.swapaxes(x, 0, 1)))
    h0, c0 = (torch.from_numpy(state[k][None]) for k in ("h", "c"))  # leading num_layers axis
    with torch.no_grad():
        out, (h, c) = layer(xt, (h0, c0))
    out = out.numpy() if batch_first else np.swapaxes(out.numpy(), 0, 1)
    check_outputs([out, h[0].numpy(), c[0].numpy()], y, final, F64_TOL,
                  f"torch.nn.LSTM batch_first={batch_first} {dims}")


# ------------------------------------------------------------------- ConvLSTM
def conv_case(name, config, dims, seed=0):
    spec = lstmspec.load_spec(name)
    rng = np.random.default_rng(seed)
    params = spec.random_params(config, rng, **dims)
    x, state = spec.random_inputs(config, rng, **dims)
    y, final = spec.reference(x, state, params, config)
    return spec, params, x, state, y, final


def keras_convlstm(keras, n, config, kernel, filters):
    cls = {1: keras.layers.ConvLSTM1D, 2: keras.layers.ConvLSTM2D, 3: keras.layers.ConvLSTM3D}[n]
    return cls(
        filters, kernel,
        padding=config.get("padding", "valid"),
        strides=config.get("strides", (1,) * n),
        dilation_rate=config.get("dilation", (1,) * n),
        data_format=config.get("data_format", "channels_last"),
        activation=config.get("activation", "tanh"),
        recurrent_activation=config.get("recurrent_activation", "sigmoid"),
        return_sequences=True, return_state=True, dtype="float64",
    )


def check_convlstm(keras, name, n, config, dims):
    spec, params, x, state, y, final = conv_case(name, config, dims)
    kernel = tuple(dims[k] for k in spec.dim_groups["kernel_size"])
    layer = keras_convlstm(keras, n, config, kernel, dims.get("filters", spec.dims["filters"].default))
    outputs = run_keras_layer(layer, spec, params, x, state)
    check_outputs(outputs, y, final, F64_TOL, f"{type(layer).__name__} {config} {dims}")


# (strides, dilation) pairs. Keras refuses strides > 1 together with dilation > 1
# on the same layer ("dilation_rate > 1 is not compatible with strides > 1"),
# so those combinations are left out rather than skipped.
STRIDE_DILATION_2D = [((1, 1), (1, 1)), ((2, 2), (1, 1)), ((1, 1), (2, 2)), ((1, 2), (1, 1)), ((1, 1), (2, 1))]
KERNELS_2D = [(3, 3), (2, 2), (2, 3)]  # odd, even, mixed


@pytest.mark.parametrize("kernel", KERNELS_2D, ids=lambda k: f"k{k[0]}x{k[1]}")
@pytest.mark.parametrize("strides, dilation", STRIDE_DILATION_2D, ids=lambda v: "x".join(map(str, v)))
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_convlstm2d_reference_matches_keras_to_1e12(keras, padding, strides, dilation, kernel):
    config = dict(padding=padding, strides=strides, dilation=dilation)
    # rows != cols, both odd and even; batch != time
    dims = dict(batch=2, time=3, rows=7, cols=6, channels=2, filters=3, kernel_rows=kernel[0], kernel_cols=kernel[1])
    check_convlstm(keras, "convlstm2d", 2, config, dims)


@pytest.mark.parametrize("activation, recurrent_activation", [("relu", "hard_sigmoid"), ("linear", "sigmoid")])
def test_convlstm2d_activation_variants_match_keras_to_1e12(keras, activation, recurrent_activation):
    config = dict(padding="same", activation=activation, recurrent_activation=recurrent_activation)
    dims = dict(batch=3, time=2, rows=5, cols=4, kernel_rows=3, kernel_cols=2)
    check_convlstm(keras, "convlstm2d", 2, config, dims)


@pytest.mark.parametrize("kernel", [3, 2], ids=lambda k: f"k{k}")
@pytest.mark.parametrize("strides, dilation", [(1, 1), (2, 1), (1, 2)], ids=lambda v: str(v))
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_convlstm1d_reference_matches_keras_to_1e12(keras, padding, strides, dilation, kernel):
    config = dict(padding=padding, strides=(strides,), dilation=(dilation,))
    dims = dict(batch=3, time=2, rows=9, channels=2, filters=4, kernel_rows=kernel)
    check_convlstm(keras, "convlstm1d", 1, config, dims)


CONV3D_CASES = [
    ("valid", (1, 1, 1), (1, 1, 1), (2, 3, 3)),
    ("same", (1, 1, 1), (1, 1, 1), (2, 3, 2)),
    ("same", (2, 2, 2), (1, 1, 1), (3, 2, 2)),
    ("valid", (1, 2, 1), (1, 1, 1), (3, 2, 3)),
    ("valid", (1, 1, 1), (2, 1, 2), (2, 3, 2)),
    ("same", (1, 1, 1), (1, 2, 1), (2, 2, 3)),
]


@pytest.mark.parametrize("padding, strides, dilation, kernel", CONV3D_CASES,
                         ids=lambda v: v if isinstance(v, str) else "x".join(map(str, v)))
def test_convlstm3d_reference_matches_keras_to_1e12(keras, padding, strides, dilation, kernel):
    config = dict(padding=padding, strides=strides, dilation=dilation)
    dims = dict(batch=2, time=3, depth=5, rows=6, cols=7, channels=2, filters=2,
                kernel_depth=kernel[0], kernel_rows=kernel[1], kernel_cols=kernel[2])
    check_convlstm(keras, "convlstm3d", 3, config, dims)


def test_convlstm2d_channels_first_matches_keras_where_tensorflow_supports_it(keras):
    import tensorflow as tf

    config = dict(padding="same", data_format="channels_first")
    dims = dict(batch=2, time=3, rows=7, cols=6, kernel_rows=3, kernel_cols=2)
    try:
        check_convlstm(keras, "convlstm2d", 2, config, dims)
    except tf.errors.UnimplementedError as error:
        if "NHWC" not in str(error):
            raise
        # TensorFlow's CPU Conv2D kernel is NHWC only; test_reference.py pins
        # channels_first against the transposed channels_last reference instead.
        pytest.skip("TensorFlow's CPU Conv2D supports only NHWC (channels_last); UnimplementedError for NCHW")


# ------------------------------------------------------------------ ONNX LSTM
def onnx_lstm(onnx_runtime, x, state, tensors, units, *, activations=None):
    """Run ONNX's LSTM operator (layout 0, forward) in ORT: (Y, Y_h, Y_c), num_directions dropped."""
    onnx, ort = onnx_runtime
    from onnx import TensorProto, helper

    batch, time, _ = x.shape
    feeds = {name: np.asarray(t, np.float32) for name, t in tensors.items()}
    feeds["X"] = np.ascontiguousarray(np.swapaxes(x, 0, 1), dtype=np.float32)  # (seq, batch, input)
    feeds["initial_h"] = np.asarray(state["h"][None], np.float32)  # (num_directions, batch, units)
    feeds["initial_c"] = np.asarray(state["c"][None], np.float32)
    inputs = ["X", "W", "R", "B", "", "initial_h", "initial_c"] + (["P"] if "P" in tensors else [])
    attrs = dict(hidden_size=units)
    if activations is not None:
        attrs.update(activations)
    node = helper.make_node("LSTM", inputs, ["Y", "Y_h", "Y_c"], **attrs)
    info = lambda name, shape: helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))  # noqa: E731
    graph = helper.make_graph(
        [node], "lstm", [info(n, a.shape) for n, a in feeds.items()],
        [info("Y", (time, 1, batch, units)), info("Y_h", (1, batch, units)), info("Y_c", (1, batch, units))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    y, h, c = session.run(None, feeds)
    return np.swapaxes(y[:, 0], 0, 1), h[0], c[0]


def check_onnx(onnx_runtime, name, config, *, activations=None):
    spec = lstmspec.load_spec(name)
    dims = dict(batch=3, time=5, input=4, units=6)
    rng = np.random.default_rng(3)
    params = spec.random_params(config, rng, **dims)
    x, state = spec.random_inputs(config, rng, **dims)
    tensors = spec.layout("onnx").to_framework(params, rng)
    # The reference runs on exactly what ORT sees: float32-rounded inputs, and
    # parameters read back from the float32 tensors (B's two halves summed in float64).
    tensors = {k: v.astype(np.float32) for k, v in tensors.items()}
    shapes = {k: v.shape for k, v in params.items()}
    params64 = spec.layout("onnx").from_framework({k: v.astype(np.float64) for k, v in tensors.items()}, shapes)
    x = x.astype(np.float32).astype(np.float64)
    state = {k: v.astype(np.float32).astype(np.float64) for k, v in state.items()}
    y, final = spec.reference(x, state, params64, config)
    outputs = onnx_lstm(onnx_runtime, x, state, tensors, dims["units"], activations=activations)
    check_outputs(outputs, y, final, F32_TOL, f"onnxruntime LSTM, spec {name} {config}")


def test_lstm_peephole_reference_matches_onnxruntime_lstm_with_p(onnx_runtime):
    check_onnx(onnx_runtime, "lstm_peephole", {})


def test_lstm_reference_matches_onnxruntime_lstm_without_p(onnx_runtime):
    check_onnx(onnx_runtime, "lstm", {})


@pytest.mark.parametrize(
    "onnx_activations, recurrent_activation",
    [
        # ONNX HardSigmoid is clip(alpha*x + beta, 0, 1), default alpha=0.2 (Keras 2's)
        (dict(activations=["HardSigmoid", "Tanh", "Tanh"]), "hard_sigmoid_keras2"),
        (dict(activations=["HardSigmoid", "Tanh", "Tanh"], activation_alpha=[1 / 6, 0.0, 0.0],
              activation_beta=[0.5, 0.0, 0.0]), "hard_sigmoid"),
    ],
    ids=["alpha0.2", "alpha1/6"],
)
def test_lstm_peephole_hard_sigmoid_variants_match_onnxruntime(onnx_runtime, onnx_activations, recurrent_activation):
    check_onnx(onnx_runtime, "lstm_peephole", dict(recurrent_activation=recurrent_activation),
               activations=onnx_activations)
