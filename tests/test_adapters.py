"""lstmspec/adapters/base.py: one build path per framework layer.

An adapter prepares its layer once (``prepare``); ``check`` (through the
validating ``run``) and ``bench`` (through ``bench.implementations``) both use
what it prepared, so no layer is built a second way for timing.
"""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import lstmspec
from lstmspec.adapters.base import ADAPTERS, FRAMEWORKS, Adapter, Outcome, OutcomeInvalid, Prepared, all_adapters
from lstmspec.adapters.conversion import ExportedModelFailed
from lstmspec.bench import implementations
from lstmspec.check.cases import make_case
from lstmspec.check.oracle import make_data
from lstmspec.check.precision import PRECISIONS

FLOAT32 = PRECISIONS.get("float32")


def _installed(framework: str) -> bool:
    return FRAMEWORKS.get(framework).available()


def _cases() -> list[tuple[str, str]]:
    """(adapter name, spec name) for every registered adapter; skipped where its framework is absent."""
    return [(a.name, a.spec) for a in all_adapters()]


def _data(spec_name: str):
    spec = lstmspec.load_spec(spec_name)
    dims = {"batch": 2, "time": 3}
    return make_data(spec, make_case(spec, dims), 0)


def _adapter(name: str) -> Adapter:
    adapter = ADAPTERS.get(name)
    if not _installed(adapter.framework):
        pytest.skip(f"{adapter.framework} is not installed")
    return adapter


@pytest.mark.parametrize("name,spec", _cases(), ids=[n for n, _ in _cases()])
def test_prepared_outcome_is_what_run_returns(name, spec):
    adapter = _adapter(name)
    data = _data(spec)
    reason = adapter.unsupported(data, "cpu", FLOAT32)
    if reason:
        pytest.skip(reason)
    prepared = adapter.prepare(data, "cpu", FLOAT32)
    assert isinstance(prepared, Prepared)
    try:
        with prepared.context():
            mine = prepared.outcome(adapter.gradients)
    except ExportedModelFailed as failed:  # a framework that fails the case (torch.compile with autograd)
        with pytest.raises(ExportedModelFailed) as again:
            adapter.run(data, "cpu", FLOAT32, adapter.gradients)
        assert str(again.value) == str(failed)
        return
    theirs = adapter.run(data, "cpu", FLOAT32, adapter.gradients)
    np.testing.assert_array_equal(mine.y, theirs.y)
    returned = {"h", "c"} if adapter.final_states is None else set(adapter.final_states)
    assert mine.final.keys() == theirs.final.keys() == returned
    for k in mine.final:
        np.testing.assert_array_equal(mine.final[k], theirs.final[k])
    assert mine.tensors == theirs.tensors and mine.tensors
    assert mine.grads.keys() == theirs.grads.keys()
    assert bool(mine.grads) == adapter.gradients


@pytest.mark.parametrize("name,spec", _cases(), ids=[n for n, _ in _cases()])
def test_bench_times_the_callable_the_adapter_prepared(name, spec):
    """bench's builder is the adapter's own prepare: its outputs are the check's outputs within float32 rounding."""
    adapter = _adapter(name)
    data = _data(spec)
    if adapter.untimed or adapter.unsupported(data, "cpu", FLOAT32):
        pytest.skip(adapter.untimed or "unsupported case")
    impl = implementations.from_adapter(adapter)
    assert impl.builder is implementations.prepare_adapter
    try:
        timed = impl.builder(impl, data, "cpu", FLOAT32)
        assert isinstance(timed, Prepared)
        with timed.context():
            timed.forward()
            out = timed.outputs()
            if adapter.gradients:
                assert timed.forward_backward is not None
                timed.forward_backward()
    except ExportedModelFailed as failed:  # an exporter that writes a model its runtime refuses (dynamo, proj_size)
        with pytest.raises(ExportedModelFailed) as again:
            adapter.run(data, "cpu", FLOAT32, False)
        assert str(again.value) == str(failed)
        return
    checked = adapter.run(data, "cpu", FLOAT32, False)
    assert isinstance(out, Outcome) and out.tensors == checked.tensors
    np.testing.assert_allclose(out.y, checked.y, rtol=0, atol=1e-5)
    for k in checked.final:
        np.testing.assert_allclose(out.final[k], checked.final[k], rtol=0, atol=1e-5)


def test_bench_implementations_builds_no_framework_layer():
    """The module imports no framework and names no layer class: layers are built by the adapters only."""
    source = Path(inspect.getsourcefile(implementations)).read_text()
    tree = ast.parse(source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(("." * node.level) + (node.module or ""))
            imported |= {a.name for a in node.names}
    for forbidden in ("tensorflow", "keras", "onnxruntime", "onnx", "_tf_keras", "keras_layers", "onnx_lstm",
                      "torch_layers", "build_model", "session"):
        assert forbidden not in imported, f"bench/implementations.py imports {forbidden}"
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    for layer in ("LSTM", "LSTMCell", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "Bidirectional", "InferenceSession"):
        assert layer not in attributes, f"bench/implementations.py constructs {layer}"


def test_every_adapter_is_timed_through_prepare_or_says_why_not():
    for adapter in all_adapters():
        assert type(adapter).prepare is not Adapter.prepare, f"{adapter.name} does not prepare its layer"
        impl = implementations.from_adapter(adapter)
        assert impl.builder is implementations.prepare_adapter


class _Float32Outcome(Adapter):
    """Breaks the protocol: hands back float32 arrays."""

    name = "test: float32 outcome"
    framework = "torch"
    spec = "lstm"

    def _run(self, data, device, precision, want_grads):
        return Outcome(data.x.astype(np.float32), {"h": data.state["h"], "c": data.state["c"]})


def test_run_rejects_an_outcome_outside_the_protocol_naming_the_field():
    data = _data("lstm")
    with pytest.raises(OutcomeInvalid, match=r"returned y as a float32 numpy array, but the adapter protocol"):
        _Float32Outcome().run(data, "cpu", FLOAT32, False)


def test_run_passes_non_finite_values_on_to_the_comparison():
    """NaN is a value the comparison fails (an infinite error), not a broken protocol."""

    class NaNOutcome(_Float32Outcome):
        def _run(self, data, device, precision, want_grads):
            return Outcome(np.full(data.x.shape, np.nan), {"h": data.state["h"], "c": data.state["c"]})

    out = NaNOutcome().run(_data("lstm"), "cpu", FLOAT32, False)
    assert np.isnan(out.y).all()


@pytest.mark.parametrize("kernel_name", ["stacked_weights", "numpy_sigmoid_via_tanh"])
def test_a_kernel_is_prepared_through_the_same_protocol(kernel_name):
    """KernelAdapter.prepare is what bench times; its outputs are what the check's run returns."""
    pytest.importorskip("torch")
    from mutants import lstm_kernels

    from lstmspec.kernels.protocol import KernelAdapter

    kernel = KernelAdapter(getattr(lstm_kernels, kernel_name), kernel_name, "lstm")
    data = _data("lstm")
    impl = implementations.from_kernel(kernel)
    assert impl.builder is implementations.prepare_adapter
    timed = impl.builder(impl, data, "cpu", FLOAT32)
    with timed.context():
        out = timed.outputs()
    checked = kernel.run(data, "cpu", FLOAT32, False)
    np.testing.assert_array_equal(out.y, checked.y)
    for k in checked.final:
        np.testing.assert_array_equal(out.final[k], checked.final[k])
    assert (timed.forward_backward is not None) == (kernel.gradients and kernel.arrays == "torch")
