"""The image specs: row_lstm, pixelrnn_row_lstm, spatial_lstm (and mdlstm2d's kernels), transforms, `extends`.

Pinned here:

- ``extends``: row_lstm reuses lstm's equations, parameters and layouts
  (nothing copied), its transform makes the sequence, and an image reference
  run equals lstm's reference on the rows (or columns, every step-th);
- torch.nn.LSTM and keras.layers.LSTM fed the transformed rows conform to
  row_lstm, image gradients included (lowering, as the adapters would);
- the transforms' values on a small image, and their shapes in the table;
- PixelRNN's masks are causal; the spatial LSTM is Theis & Bethge's
  equations (h = tanh(c ⊙ o)) and its neighbourhood is causal;
- every wrong kernel in tests/image_mutants.py fails the default case matrix,
  and the correct ones (the examples among them) pass it;
- malformed transforms and extends get one precise error.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

import lstmspec
from lstmspec.errors import SpecError
from lstmspec.spec import specs_dir
from lstmspec.spec.loader import lint_file

TOL = 1e-12


def case(name, config=None, seed=0, **dims):
    spec = lstmspec.load_spec(name)
    rng = np.random.default_rng(seed)
    params = spec.random_params(config, rng, **dims)
    x, state = spec.random_inputs(config, rng, **dims)
    return spec, params, x, state


# ---------------------------------------------------------------- row_lstm
def test_row_lstm_reuses_lstm_rather_than_copying_it():
    row, lstm = lstmspec.load_spec("row_lstm"), lstmspec.load_spec("lstm")
    assert row.extends == "lstm"
    assert {n: e.text for n, e in row.equations.items()} == {n: e.text for n, e in lstm.equations.items()}
    assert list(row.params) == list(lstm.params) and list(row.layouts) == list(lstm.layouts)
    assert list(row.inputs) == ["image"] and list(row.transforms) == ["x"]
    text = (specs_dir() / "row_lstm.toml").read_text()
    assert "[equations]" not in text and "[params]" not in text and "[layouts" not in text


@pytest.mark.parametrize("config", [{}, {"scan": "cols"}, {"step": 2}, {"scan": "cols", "step": 2, "direction": "reverse"}],
                         ids=["rows", "cols", "rows-step2", "cols-step2-reverse"])
def test_row_lstm_is_lstm_on_the_rows(config):
    spec, params, image, state = case("row_lstm", config, rows=5, cols=3)
    attrs = spec.resolve_config(config)
    k = attrs["step"]
    lines = image[:, ::k] if attrs["scan"] == "rows" else image[:, :, ::k].transpose(0, 2, 1, 3)
    seq = lines.reshape(lines.shape[0], lines.shape[1], -1)
    y, final = spec.reference(image, state, params, config)
    lstm = lstmspec.load_spec("lstm")
    y_ref, final_ref = lstm.reference(seq, state, params, {"direction": attrs["direction"]})
    assert y.shape == (3, -(-(5 if attrs["scan"] == "rows" else 3) // k), 6)
    np.testing.assert_array_equal(y, y_ref)
    for name in final:
        np.testing.assert_array_equal(final[name], final_ref[name])


def test_row_lstm_matrix_reaches_one_timestep_through_the_image():
    """The time axis is derived (ceil(rows / step) or ceil(cols / step)): one step comes from the image's size."""
    from lstmspec.check.cases import default_matrix

    spec = lstmspec.load_spec("row_lstm")
    single = [c for c in default_matrix(spec) if c.label.startswith("one timestep")]
    seen = set()
    for c in single:
        attrs = spec.resolve_config(c.config)
        assert spec.resolve_dims(dict(c.dims), attrs)["time"] == 1, c.key
        seen.add((attrs["scan"], attrs["step"], attrs["direction"]))
    assert seen == {(s, k, d) for s in ("rows", "cols") for k in (1, 2) for d in ("forward", "reverse")}
    keys = {c.key for c in single}
    assert "batch=3,units=6,rows=2,cols=3,channels=2,step=2" in keys  # the skipped row 1 is still in the image
    assert "batch=3,units=6,rows=5,cols=1,channels=2,scan=cols" in keys


def test_transforms_on_a_small_image():
    from lstmspec.reference.backends import get_backend
    from lstmspec.reference.transforms import IMPLEMENTATIONS, neighbourhood_offsets

    be = get_backend("numpy")
    image = np.arange(1, 1 + 3 * 4 * 2, dtype=float).reshape(1, 3, 4, 2)
    rows = IMPLEMENTATIONS.get("rows")(be, image, {"step": 2})
    np.testing.assert_array_equal(rows[0], [image[0, 0].ravel(), image[0, 2].ravel()])  # rows 0 and 2, channels fastest
    cols = IMPLEMENTATIONS.get("cols")(be, image, {"step": 3})
    np.testing.assert_array_equal(cols[0], [image[0, :, 0].ravel(), image[0, :, 3].ravel()])
    near = IMPLEMENTATIONS.get("causal_neighbourhood")(be, image, {"radius": 1})
    assert near.shape == (1, 3, 4, 4 * 2)
    assert neighbourhood_offsets(1) == [(-1, -1), (-1, 0), (-1, 1), (0, -1)]
    np.testing.assert_array_equal(near[0, 1, 1], np.concatenate([image[0, 0, 0], image[0, 0, 1], image[0, 0, 2],
                                                                 image[0, 1, 0]]))
    np.testing.assert_array_equal(near[0, 0, 0], np.zeros(8))  # nothing precedes the first pixel


def test_row_lstm_shape_table_shows_the_transform_and_its_sizes():
    from lstmspec.tables import shape_table

    spec = lstmspec.load_spec("row_lstm")
    attrs = spec.resolve_config({"scan": "cols", "step": 2})
    table = shape_table(spec, spec.resolve_dims({"rows": 224, "cols": 224, "channels": 3}, attrs), attrs)
    assert table.row("transforms", "x").value == (3, 112, 672)
    assert table.row("derived dims", "time").shape == "ceil(cols / 2)"
    assert table.row("derived dims", "input").shape == "rows*channels"
    assert table.row("torch", "weight_ih_l0").value == (24, 672)


def _lowered_results(adapter_names, where=None):
    """Run lstm's framework adapters on row_lstm cases, fed the rows: what the adapters' lowering does."""
    from lstmspec.adapters.base import all_adapters
    from lstmspec.check.cases import default_matrix
    from lstmspec.check.precision import PRECISIONS
    from lstmspec.check.runner import Oracle, compare_outcome, declared_skip
    from lstmspec.reference.transforms import lower_data, pull_back_input_gradient

    spec = lstmspec.load_spec("row_lstm")
    oracle, precision = Oracle(spec, 0), PRECISIONS.get("float64")
    adapters = [a for a in all_adapters() if a.spec == "lstm" and a.name in adapter_names]
    ran = []
    for adapter in adapters:
        for case_ in default_matrix(spec):
            if where and any(dict(case_.attrs).get(k, spec.attributes[k].default) != v for k, v in where.items()):
                continue
            data = oracle.data(case_)
            low = lower_data(data)
            if declared_skip(spec, adapter, case_) or adapter.unsupported(low, "cpu", precision):
                continue
            outcome = adapter.run(low, "cpu", precision, True)
            outcome.grads["x"] = pull_back_input_gradient(data, outcome.grads["x"])
            comparisons = compare_outcome(spec, data, adapter, outcome, oracle.reference(case_),
                                          oracle.yardstick(case_, precision, "cpu", True), precision, True)
            ran.append((adapter.name, case_.key, [c for c in comparisons if not c.passed]))
    return ran


@pytest.mark.parametrize("framework, names, where", [
    ("torch", ["torch.nn.LSTM", "torch.nn.LSTMCell"], None),
    ("keras", ["keras.layers.LSTM"], {"activation": "tanh"}),  # Keras eager is slow: its other activations
])                                                              # are checked on lstm itself
def test_framework_lstms_fed_the_rows_conform_to_row_lstm(framework, names, where):
    pytest.importorskip("torch")
    if framework == "keras":
        pytest.importorskip("tensorflow")
    ran = _lowered_results(names, where)
    assert {name for name, _, _ in ran} == set(names), f"ran={sorted({n for n, _, _ in ran})}, but should be {names}"
    failed = [(name, key, [str(c) for c in bad][:1]) for name, key, bad in ran if bad]
    assert not failed, f"failing cases={failed[:3]}, but should be none"
    assert any("scan=cols" in key for _, key, _ in ran) and any("step=2" in key for _, key, _ in ran)


def test_lowered_input_gradient_is_the_transform_adjoint():
    pytest.importorskip("torch")
    from lstmspec.check.cases import make_case
    from lstmspec.check.oracle import make_data
    from lstmspec.reference.transforms import lower_data, pull_back_input_gradient

    spec = lstmspec.load_spec("row_lstm")
    data = make_data(spec, make_case(spec, {"rows": 5, "cols": 3}, {"step": 2}), 0)
    seq = lower_data(data).x
    g = np.random.default_rng(1).standard_normal(seq.shape)
    back = pull_back_input_gradient(data, g)
    assert back.shape == data.x.shape
    assert np.isclose(np.sum(back * data.x), np.sum(g * seq))  # <T^T g, image> = <g, T image>
    np.testing.assert_array_equal(back[:, 1], 0.0)  # row 1 is skipped with step 2


# ------------------------------------------------------------- pixelrnn
@pytest.mark.parametrize("mask, sees_itself", [("A", False), ("B", True)])
def test_pixelrnn_input_mask_is_causal_along_the_row(mask, sees_itself):
    config = {"mask": mask, "colours": 1}  # one colour group: the masks are purely spatial
    spec, params, x, state = case("pixelrnn_row_lstm", config)
    zero = {k: np.zeros_like(v) for k, v in state.items()}
    y, _ = spec.reference(x, zero, params, config)
    changed = x.copy()
    changed[:, 0, 2:] += 1.0  # pixels 2.. of the first row
    y2, _ = spec.reference(changed, zero, params, config)
    moved = np.abs(y2 - y)[:, 0].max(axis=(0, 2))
    assert np.all(moved[:2] == 0.0), f"pixels left of the change moved={moved[:2]}, but should be 0 [mask {mask}]"
    assert (moved[2] > 0) == sees_itself
    assert moved[3] > 0


@pytest.mark.parametrize("mask", ["A", "B"])
@pytest.mark.parametrize("colour", [0, 1, 2], ids=["R", "G", "B"])
def test_pixelrnn_colour_masks_are_the_papers(mask, colour):
    """Section 3.4: at the pixel itself, output colour b reads input colour a < b (mask A) or a <= b (mask B)."""
    config = {"mask": mask}
    spec, params, x, state = case("pixelrnn_row_lstm", config, channels=3, units=6)  # R R G G B B units
    zero = {k: np.zeros_like(v) for k, v in state.items()}  # row 0 then reads only its own input row
    y, _ = spec.reference(x, zero, params, config)
    changed = x.copy()
    changed[:, 0, 2, colour] += 1.0  # one colour of pixel 2 of the first row
    y2, _ = spec.reference(changed, zero, params, config)
    moved = np.abs(y2 - y)[:, 0, 2].max(axis=0) > 0  # per unit of pixel 2
    reads = [colour < b or (mask == "B" and colour == b) for b in (0, 0, 1, 1, 2, 2)]
    assert list(moved) == reads, f"units moved={list(moved)}, but should be {reads} [mask {mask}, colour {colour}]"
    assert np.abs(y2 - y)[:, 0, :2].max() == 0.0  # pixels to the left never read it
    assert np.abs(y2 - y)[:, 0, 3].max() > 0  # the pixel to the right reads all of it


def test_pixelrnn_shape_table_lists_the_colour_groups():
    from lstmspec.tables import shape_table

    spec = lstmspec.load_spec("pixelrnn_row_lstm")
    attrs = spec.resolve_config({"mask": "B"})
    assert attrs["colours"] == 3 and spec.attributes["colours"].describe_values() == "1|3"
    table = shape_table(spec, spec.resolve_dims({"channels": 3, "units": 6}, attrs), attrs)
    assert table.row("paper", "K_is").value == (3, 3, 24)
    assert "mask_groups=colours" in spec.equations["o"].text


def test_pixelrnn_has_the_paper_gate_order_in_its_layout():
    spec = lstmspec.load_spec("pixelrnn_row_lstm")
    layout = spec.layout("paper")
    assert [s.param for s in layout.tensors[0].segments] == ["W_o", "W_f", "W_i", "W_g"]
    assert list(spec.gates) == ["o", "f", "i", "g"]


# --------------------------------------------------------- spatial_lstm
def test_spatial_lstm_is_theis_and_bethge_written_out():
    spec, params, image, state = case("spatial_lstm", {"radius": 2}, channels=2)
    y, final = spec.reference(image, state, params, {"radius": 2})
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    k = 2
    padded = np.pad(image, [(0, 0), (k, 0), (k, k), (0, 0)])
    offsets = [(di, dj) for di in range(-k, 0) for dj in range(-k, k + 1)] + [(0, dj) for dj in range(-k, 0)]
    batch, rows, cols, _ = image.shape
    h, c = {}, {}
    for i in range(rows):
        for j in range(cols):
            x_lt = np.concatenate([padded[:, k + i + di, k + j + dj] for di, dj in offsets], axis=-1)
            h_l, c_l = h.get((i, j - 1), state["h_col0"][:, i]), c.get((i, j - 1), state["c_col0"][:, i])
            h_u, c_u = h.get((i - 1, j), state["h_row0"][:, j]), c.get((i - 1, j), state["c_row0"][:, j])
            z = np.concatenate([x_lt, h_l, h_u], axis=-1)
            T = {n: z @ params[f"A_{n}"] + params[f"b_{n}"] for n in ("g", "o", "i", "fr", "fc")}
            g, o, i_, f_r, f_c = np.tanh(T["g"]), sig(T["o"]), sig(T["i"]), sig(T["fr"]), sig(T["fc"])
            c[i, j] = g * i_ + c_l * f_c + c_u * f_r
            h[i, j] = np.tanh(c[i, j] * o)
    expected = np.stack([np.stack([h[i, j] for j in range(cols)], 1) for i in range(rows)], 1)
    assert np.max(np.abs(y - expected)) <= TOL
    assert np.max(np.abs(final["c_row0"] - np.stack([c[rows - 1, j] for j in range(cols)], 1))) <= TOL


def test_spatial_lstm_neighbourhood_size_follows_the_radius():
    spec = lstmspec.load_spec("spatial_lstm")
    for radius, size in [(1, 4), (2, 12), (3, 24)]:
        attrs = spec.resolve_config({"radius": radius})
        dims = spec.resolve_dims({"channels": 3, "units": 5}, attrs)
        assert dims["features"] == size * 3 and dims["affine_in"] == size * 3 + 10


# ---------------------------------------------------------------- mutants
def _check(kernel, spec, **options):
    from lstmspec.api import check_kernel

    if "diagnose" in inspect.signature(check_kernel).parameters:
        options["diagnose"] = False
    return check_kernel(kernel, spec, dtypes=("float64",), **options)


class _Caught(Exception):
    pass


def _first_failure(kernel, spec):
    """The first failing result of the default matrix (the run stops there), or None."""
    from lstmspec.check.results import ERROR, FAIL, PASS

    seen = {"passed": 0}

    def stop(result):
        if result.status in (FAIL, ERROR):
            raise _Caught(result)
        seen["passed"] += result.status == PASS

    try:
        _check(kernel, spec, grad=False, on_result=stop)
    except _Caught as caught:
        return caught.args[0]
    return None


def _mutants():
    import image_mutants

    return [(spec, k) for spec, kernels in image_mutants.WRONG.items() for k in kernels]


def _correct():
    import image_mutants

    return [(spec, k) for spec, kernels in image_mutants.CORRECT.items() for k in kernels]


@pytest.fixture(autouse=True)
def one_torch_thread():
    torch = pytest.importorskip("torch")
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.mark.parametrize("spec, kernel", _mutants(), ids=lambda v: v if isinstance(v, str) else v.__name__)
def test_wrong_image_kernel_fails_the_default_matrix(spec, kernel):
    failure = _first_failure(kernel, spec)
    assert failure is not None, f"{kernel.__name__} ({kernel.__doc__.strip()}) passed every case of {spec}"
    assert failure.status == "fail", f"{kernel.__name__}: {failure.status} {failure.reason}"


@pytest.mark.parametrize("spec, kernel", _correct(), ids=lambda v: v if isinstance(v, str) else getattr(v, "__module__", "") + "." + v.__name__)
def test_correct_image_kernel_passes(spec, kernel):
    from lstmspec.check.results import FAIL, PASS

    where = {}
    spec_obj = lstmspec.load_spec(spec)
    for name in ("activation", "recurrent_activation"):
        if name in spec_obj.attributes:
            where[name] = spec_obj.attributes[name].default
    results = _check(kernel, spec, where=where)
    bad = [(r.case.key, r.reason, [str(c) for c in r.comparisons if not c.passed][:1]) for r in results if r.status != PASS
           and r.status != "skip"]
    assert not bad, f"failing cases={bad[:3]}, but should be none"
    assert sum(r.status == PASS for r in results) >= 4
    assert not any(r.status == FAIL for r in results)


# ------------------------------------------------------------- language
def _errors(tmp_path: Path, text: str, name: str = "broken.toml") -> list[SpecError]:
    path = tmp_path / name
    path.write_text(text)
    _, findings = lint_file(path, str(path))
    return [f.error for f in findings if f.severity == "error"]


ROW = (specs_dir() / "row_lstm.toml").read_text()


@pytest.mark.parametrize("old, new, key, message", [
    ('op = "scan", from = "image"', 'op = "diagonals", from = "image"', "transforms.x.op", "unknown transform op 'diagonals'"),
    ('op = "scan", from = "image"', 'op = "scan", from = "picture"', "transforms.x.from",
     "a transform reads a declared input (image)"),
    ('step = "step", doc', 'stride = "step", doc', "transforms.x.stride", "rows has no option 'stride' (options: step)"),
    ('from = "x", axis = 1', 'from = "y", axis = 1', "dims.time.from", "from transform 'y', which is not declared"),
    ('extends = "lstm"', 'extends = "lstmm"', "spec.extends", "unknown spec 'lstmm'"),
])
def test_malformed_transform_or_extends_gets_one_precise_error(tmp_path, old, new, key, message):
    assert old in ROW, old
    errors = _errors(tmp_path, ROW.replace(old, new, 1))
    assert errors, f"no error for {new!r}"
    assert errors[0].key == key and message in errors[0].message, f"{errors[0]}"
    assert errors[0].line is not None


def test_an_error_in_an_inherited_entry_points_at_the_parent_file(tmp_path):
    parent = (specs_dir() / "lstm.toml").read_text().replace('h_t = "o * activation(c_t)"', 'h_t = "o * activation(c_t) + q"')
    (tmp_path / "parent.toml").write_text(parent)
    errors = _errors(tmp_path, ROW.replace('extends = "lstm"', 'extends = "parent.toml"'), "child.toml")
    assert errors and errors[0].key == "equations.h_t" and errors[0].file.endswith("parent.toml")
    assert "undefined name 'q'" in errors[0].message


def test_extends_cycle_is_an_error(tmp_path):
    (tmp_path / "a.toml").write_text(ROW.replace('extends = "lstm"', 'extends = "b.toml"').replace('"row_lstm"', '"a"'))
    (tmp_path / "b.toml").write_text(ROW.replace('extends = "lstm"', 'extends = "a.toml"').replace('"row_lstm"', '"b"'))
    errors = _errors(tmp_path, (tmp_path / "a.toml").read_text(), "a.toml")
    assert errors and "extends forms a cycle" in errors[0].message


def test_peephole_lstm_and_the_convlstm_family_extend_rather_than_copy():
    lstm, peephole = lstmspec.load_spec("lstm"), lstmspec.load_spec("lstm_peephole")
    assert peephole.extends == "lstm" and peephole.lineage == ()  # its own equations: lstm's layers do not apply
    assert list(peephole.params) == list(lstm.params) + ["P_i", "P_f", "P_o"]
    assert list(peephole.layouts) == ["onnx"]  # keras and torch dropped: they cannot hold P
    onnx = peephole.layout("onnx")
    assert [t.name for t in onnx.tensors] == ["W", "R", "B", "P"] and onnx.doc.startswith("ONNX LSTM operator with peepholes")
    text = (specs_dir() / "lstm_peephole.toml").read_text()
    assert "[dims]" not in text and "[states]" not in text and "W = " not in text
    conv2d = lstmspec.load_spec("convlstm2d")
    for name, spatial in (("convlstm1d", ["rows"]), ("convlstm3d", ["depth", "rows", "cols"])):
        spec = lstmspec.load_spec(name)
        assert spec.extends == "convlstm2d" and spec.lineage == (), name  # other shapes: no 2-D layer applies
        assert {n: e.text for n, e in spec.equations.items()} == {n: e.text for n, e in conv2d.equations.items()}
        assert [d.render() for d in spec.first_input.shape][2:-1] == spatial
        assert "[equations]" not in (specs_dir() / f"{name}.toml").read_text()
    assert "cols" not in lstmspec.load_spec("convlstm1d").dims


def test_a_child_layout_adds_tensors_to_the_parents_layout_of_that_name(tmp_path):
    child = (specs_dir() / "lstm_peephole.toml").read_text().replace('extends = "lstm"', 'extends = "parent.toml"')
    parent = (specs_dir() / "lstm.toml").read_text().replace('B = { concat = ["b_i:0"', 'B = { doc = "from the parent", concat = ["b_i:0"')
    (tmp_path / "parent.toml").write_text(parent)
    (tmp_path / "child.toml").write_text(child)
    spec = lstmspec.load_spec(tmp_path / "child.toml")
    assert {t.name: t.doc for t in spec.layout("onnx").tensors}["B"] == "from the parent"


@pytest.mark.parametrize("drop, message", [
    ('"layouts.tflite"', "drop names 'layouts.tflite', which lstm does not declare"),
    ('"gatez"', "drop names 'gatez', which lstm does not declare"),
])
def test_drop_of_something_the_parent_lacks_is_one_located_error(tmp_path, drop, message):
    text = (specs_dir() / "lstm_peephole.toml").read_text().replace('drop = ["layouts.keras"', f'drop = [{drop}, "layouts.keras"')
    errors = _errors(tmp_path, text)
    assert errors and errors[0].key == "spec.drop" and message in errors[0].message, errors
    assert errors[0].file.endswith("broken.toml") and errors[0].line is not None


def test_drop_without_extends_is_an_error(tmp_path):
    text = (specs_dir() / "lstm.toml").read_text().replace('name = "lstm"', 'name = "lstm"\ndrop = ["layouts.keras"]')
    errors = _errors(tmp_path, text)
    assert errors and errors[0].key == "spec.drop" and "extends none" in errors[0].message


def test_without_its_drop_the_peephole_spec_inherits_a_layout_that_cannot_hold_p(tmp_path):
    text = (specs_dir() / "lstm_peephole.toml").read_text().replace('"layouts.keras", ', "")
    errors = _errors(tmp_path, text)
    assert errors and "does not store parameter(s) P_f, P_i, P_o" in errors[0].message, errors


# -------------------------------------------------------------- pipelines
def _stage_values(name, dims, config=None):
    from lstmspec.tables import shape_table

    spec = lstmspec.load_spec(name)
    attrs = spec.resolve_config(config)
    table = shape_table(spec, spec.resolve_dims(dims, attrs), attrs)
    return spec, table, {r.quantity: r.value for r in table.section("stages")}


def test_pipelines_follow_a_batch_through_every_stage():
    _, _, stages = _stage_values("cnn_convlstm", {"batch": 8, "time": 32, "frame_rows": 224, "frame_cols": 224,
                                                  "filters": 256, "kernel_rows": 3, "kernel_cols": 3,
                                                  "dense_units": 256, "classes": 10})
    assert stages == {"frames": (8, 32, 224, 224, 3), "mobilenet": (8, 32, 7, 7, 1024), "convlstm": (8, 5, 5, 256),
                      "flatten": (8, 6400), "dense": (8, 256), "predictions": (8, 10)}
    _, table, stages = _stage_values("cnn_lstm", {"batch": 1, "pixel_rows": 224, "pixel_cols": 224, "units": 128,
                                                  "classes": 10})
    assert stages == {"pixels": (1, 3, 224, 224), "resnet18": (1, 512, 7, 7), "features": (1, 7, 7, 512),
                      "lstm": (1, 128), "linear": (1, 10)}
    assert table.row("transforms", "x").value == (1, 7, 3584)  # the blog post's LSTM: input_size = 512*7
    _, table, _ = _stage_values("cnn_lstm", {"pixel_rows": 224, "pixel_cols": 160}, {"scan": "cols", "step": 2})
    assert table.row("transforms", "x").value == (3, 3, 7 * 512)  # columns 0, 2, 4 of 5


def test_a_recurrence_stage_must_read_the_spec_input(tmp_path):
    text = (specs_dir() / "cnn_lstm.toml").read_text().replace('axes = [0, 2, 3, 1]', 'axes = [0, 1, 2, 3]')
    errors = _errors(tmp_path, text)
    assert errors and errors[0].key == "stages.lstm.from"
    assert "the recurrence reads its input image (batch, ceil(pixel_rows / 32), ceil(pixel_cols / 32), 512)" in errors[0].message


def test_cnn_convlstm_stages_match_the_blog_posts_keras_model():
    pytest.importorskip("tensorflow")
    import os

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    dims = {"batch": 1, "time": 2, "frame_rows": 96, "frame_cols": 130, "filters": 4, "kernel_rows": 3,
            "kernel_cols": 3, "dense_units": 5, "classes": 3}
    spec, table, stages = _stage_values("cnn_convlstm", dims)
    frames = keras.Input(shape=stages["frames"][1:], batch_size=1)
    cnn = keras.applications.MobileNet(include_top=False, weights=None, input_shape=stages["frames"][2:])
    features = keras.layers.TimeDistributed(cnn)(frames)
    state = keras.layers.ConvLSTM2D(filters=4, kernel_size=(3, 3), return_sequences=False)(features)
    flat = keras.layers.Flatten()(state)
    dense = keras.layers.Dense(5, activation="relu")(flat)
    predictions = keras.layers.Dense(3, activation="softmax")(dense)
    got = {"frames": frames.shape, "mobilenet": features.shape, "convlstm": state.shape, "flatten": flat.shape,
           "dense": dense.shape, "predictions": predictions.shape}
    assert {k: tuple(v) for k, v in got.items()} == stages
    conv = next(layer for layer in keras.Model(frames, predictions).layers if isinstance(layer, keras.layers.ConvLSTM2D))
    kernel = next(w for w in conv.weights if w.path.endswith("/kernel"))
    assert tuple(kernel.shape) == table.row("keras", "kernel").value


@pytest.mark.parametrize("size", [(64, 64), (100, 37), (224, 224)])
def test_mobilenet_output_size_formula(size):
    pytest.importorskip("tensorflow")
    import keras

    _, _, stages = _stage_values("cnn_convlstm", {"frame_rows": size[0], "frame_cols": size[1], "kernel_rows": 1,
                                                  "kernel_cols": 1})
    model = keras.applications.MobileNet(include_top=False, weights=None, input_shape=size + (3,))
    assert tuple(model.output_shape[1:]) == stages["mobilenet"][2:]


def test_cnn_lstm_stages_match_torchvision_resnet18():
    torch = pytest.importorskip("torch")
    try:
        import torchvision
    except Exception as exc:  # noqa: BLE001 - a wheel built for another torch fails at import, not as ImportError
        pytest.skip(f"torchvision does not import here ({type(exc).__name__}: {exc}); its wheels need torch 2.14.1, "
                    "so run this test in a venv of its own: pip install torch==2.14.1 torchvision==0.29.1 numpy "
                    "pytest hypothesis tabulate, then PYTHONPATH=. python -m pytest tests/test_image_specs.py -k resnet18")
    backbone = torch.nn.Sequential(*list(torchvision.models.resnet18(weights=None).children())[:-2]).eval()
    for rows, cols in [(64, 64), (100, 37), (224, 224)]:
        _, _, stages = _stage_values("cnn_lstm", {"batch": 1, "pixel_rows": rows, "pixel_cols": cols})
        with torch.no_grad():
            out = backbone(torch.zeros(stages["pixels"]))
        assert tuple(out.shape) == stages["resnet18"]
