"""How many of the test suite's wrong kernels the failure diagnosis names, and whether it names them right.

Runs every WRONG kernel of tests/mutants (lstm, convlstm2d) and, unless
``--no-images``, of tests/image_mutants.py through the checker on its spec's
default matrix (CPU, float64 then float32, as ``lstmspec.api.check_kernel``
orders them) with the diagnosis on, stops at the kernel's first failing case
and prints what the diagnosis named it, next to the name a human expects
(``—`` where no forward deviation of the spec explains the bug: a gradient-only
bug, a shape error, a computation in another precision). Run from the
repository root:

    python benchmarks/diagnosis_coverage.py                  # about 20 s on a 2-core machine
    python benchmarks/diagnosis_coverage.py --no-images --spec lstm

Prints a Markdown table (mutant | named as | expected) and the line
"named N of M" (N: mutants whose first failure was named as a deviation; M:
mutants with a diagnosed failure), plus how many named ones agree with the expected
name. Exit status 0; 1 when a named deviation differs from the expected one.

Measured (CPU, float64 then float32, seed 0): before the variants of this change
(split bias dropped, activations swapped, last output repeated, final h from y[-1],
batch/time reshaped, CIFG, h from c_{t-1}, strides/dilation swapped, first-axis dilation,
kernels reshaped) "named 25 of 39" lstm/convlstm2d mutants (25 of 53 with the image ones);
after, "named 34 of 39" (34 of 53), every one as expected.

Image mutants (the grid, mask, transform and output-equation variants of
``grid_catalogue``, ``conv_catalogue`` and ``catalogue``): before, "named 34 of 54"
(none of the 15 image mutants; the lstm/convlstm2d count is unchanged); after,
"named 48 of 54", every one as expected. Left: spatial_lstm's neighbourhood that
includes the pixel (a different transform op). With "strides applied to the recurrent
convolution" (it shows where the strided recurrent conv is one pixel wide along an axis and
broadcasts; elsewhere such a kernel raises): "named 49 of 54", every one as expected.
The two precision mutants (a kernel computing in float32, a cell state buffer in float16 feeding
h) are not named as a deviation, but the diagnosis says that every value they returned (c_T for
the buffer) is exactly a float32 (float16) number: "not named, but said to return numbers of a
coarser precision: 2".

With state not carried along a grid axis, the pixel in its causal neighbourhood and four more
mutants (ONNX-stacked weights read in PyTorch's gate order, a ConvLSTM whose state is reset every
step, an MDLSTM whose rows never pass the state on, one whose last column is never computed, named
by its first failing cell only): "named 53 of 58", every one as expected.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

EXTRA_FIRST = "same padding with the extra row/column at the start (input convolution)"
#: The deviation each mutant should be named as; None where no catalogue entry can explain it, with why.
EXPECTED: dict[str, str | None] = {
    # lstm
    "gate_order_onnx_iofg": "gate order i,o,f,g",
    "onnx_weights_read_in_torch_order": "gate order i,g,o,f",  # noted as ONNX's order read as Keras/PyTorch's
    "forget_bias_plus_one": "forget-gate bias +1",
    "torch_bias_hh_dropped": "second of the two summed bias tensors dropped",
    "keras_bias_counted_twice": "every bias applied twice",
    "h_c_swapped_in_final_state": "final h and c swapped",
    "state_reset_every_step": "state not carried between timesteps",
    "initial_state_ignored": "initial state ignored (zeros used)",
    "last_output_broadcast": "last output repeated at every step",
    "reverse_in_processing_order": "outputs in reversed time order",
    "reverse_final_state_from_last_position": "final h taken from the output at the last input position",
    "hard_sigmoid_for_sigmoid": "recurrent_activation=hard_sigmoid_keras2",
    "no_activation_on_cell_output": "cell output activation=linear",
    "transposed_recurrent_kernel": "recurrent weights transposed",
    "cell_state_in_float16": None,  # h from the rounded c: needs a rounding the equation language lacks,
    "outputs_shifted_by_one_step": "outputs lagging one step (y[t] = h_{t-1}, y[0] = h0)",
    "coupled_input_forget_gate": "input gate coupled to the forget gate (i = 1 - f)",
    "activation_ignored": "activation=tanh",
    "activations_swapped": "activation and recurrent_activation swapped",
    "h_from_previous_cell": "h_t computed from the previous cell state (before the cell update)",
    "truncated_bptt_detach": None,  # values right, gradients wrong: nothing forward to name
    "writes_state_in_place": None,  # caught as a write into its inputs, not by its values
    "computes_in_float32": None,  # float32 rounding differs from kernel to kernel: no reproducible deviation
    "torch_hardsigmoid_in_float64": None,  # a gradient-only bug (float32 1/6 in the backward)
    "nn_lstm_batch_first_missing": None,  # shapes conflict unless batch == time: a shape error
    "squeeze_drops_batch_of_one": None,  # a shape error
    # convlstm2d
    "same_pad_extra_row_on_top": "same padding with the extra row/column at the start (input convolution)",
    "half_kernel_padding_in_both_convs": EXTRA_FIRST,  # odd kernel, stride 2: k//2 each side = TF with the odd pad first
    "same_pad_stride_one_rule": EXTRA_FIRST,  # its first value failure is stride 2, where the two coincide,
    "true_convolution_flipped_kernel": "kernels flipped (convolution instead of cross-correlation)",
    # a shape error, except where the strided recurrent conv is one pixel wide and broadcasts (2x1 state)
    "recurrent_conv_with_input_strides": "strides applied to the recurrent convolution",
    "recurrent_conv_with_input_padding": None,  # valid shrinks h: a shape error
    "dilation_ignored": "dilation ignored",
    "dilation_in_recurrent_conv": "dilation applied to the recurrent convolution",
    "strides_and_dilation_swapped": "strides and dilation swapped",
    "kernel_rows_cols_swapped": "kernel rows and columns swapped",
    "kernel_reshaped_not_permuted": "kernels reshaped to (out, in, k...) instead of permuted",
    "recurrent_kernel_in_out_swapped": "recurrent weights transposed",
    "gate_split_ifog_community": "gate order i,f,o,g",
    "bias_in_both_convs": "every bias applied twice",
    "frames_reshaped_time_major": "batch and time mixed up by a reshape (time-major reshape instead of transpose)",
    "steps_counted_from_batch_axis": None,  # a sequence cut to `batch` steps: a shape error
    "same_pads_from_rows_for_both_axes": EXTRA_FIRST,  # 7x6 frames at stride 2: the rows' (1, 1) on the cols,
    "channels_first_declared_but_ignored": None,  # reads channels-first data as channels last: shapes conflict
    "initial_state_zeros_of_input_size": "initial state ignored (zeros used)",
    "strides_first_axis_only": None,  # mixed strides: the state shape differs, a shape error,
    "dilation_first_axis_only": "dilation ignored",  # dilation (1, 2) read as (1, 1),
    "same_pads_from_kernel_rows": None,  # a 3x2 kernel padded as 3x3: the state shape differs,
    # mdlstm2d
    "predecessors_swapped": "hidden-state predecessors swapped (each read through the other's weights)",
    "one_shared_forget_gate": "one forget gate for both predecessors (the first one's)",
    "forget_gates_swapped": "cell-state predecessors swapped (each forget gate on the other's cell)",
    "scan_always_from_top_left": "scan direction ignored (the default direction scanned)",
    "final_row_is_the_first_scanned": "final boundaries of the first grid axis from the first cells scanned",
    "rows_never_carried": "state not carried along the first grid axis (every cell reads the boundary)",
    "last_column_never_computed": None,  # no deviation of the equations: the first failing cell is named
    # pixelrnn_row_lstm
    "unmasked_input_conv": "masks ignored (the masked convolutions run unmasked)",
    # its first failure is colours=1, mask A: shifted one tap, A is exactly B there (on RGB cases it is
    # named "mask centred one tap after the pixel", tests/test_diagnose.py)
    "mask_shifted_right": "mask B instead of A",
    "state_conv_masked_too": "recurrent convolutions masked too (mask B)",
    "mask_b_where_a_is_required": "mask B instead of A",
    "colour_groups_ignored": "colour groups ignored (purely spatial masks)",
    "colour_groups_over_stacked_gates": "colour groups split over the stacked gates (not within each gate)",
    # row_lstm
    "rows_flattened_channels_major": "each step's features flattened channels-major ((channels, length), not (length, channels))",
    "step_ignored": "the input transform's integer option ignored (1 used)",  # y has more steps than the spec's
    # spatial_lstm
    "usual_lstm_output": "output gate outside the cell activation (h = o * act(c), the usual LSTM's output)",
    "neighbourhood_includes_the_pixel": "the pixel itself in its causal neighbourhood (in place of the farthest neighbour)",
}


def mutants(specs: set[str] | None, images: bool) -> list[tuple[str, Any]]:
    """(spec, kernel) of every wrong kernel, lstm and convlstm2d first."""
    sys.path.insert(0, str(ROOT / "tests"))
    from mutants import BY_SPEC

    out = [(spec, fn) for spec, module in BY_SPEC.items() for fn in module.WRONG]
    if images:
        import image_mutants

        out += [(spec, fn) for spec, kernels in image_mutants.WRONG.items() for fn in kernels]
    return [(s, fn) for s, fn in out if specs is None or s in specs]


def first_failure(spec_name: str, kernel: Any, dtypes: tuple[str, ...]) -> tuple[Any, Any]:
    """(the kernel's first FAIL that the diagnosis looked at, its first FAIL of any kind), or Nones.

    The cases are run one by one with ``check_one``, as ``lstmspec.api.check_kernel`` orders them
    (precisions outer, cases inner), with the diagnosis on, so that the search stops at the first
    diagnosed failure instead of diagnosing every failing case. A FAIL without a diagnosis is a
    kernel that raised, returned a wrong shape or wrote into its inputs, or whose values were right
    and only its gradients wrong: there is no output for a deviation to reproduce, so the search goes on.
    """
    from lstmspec import load_spec
    from lstmspec.check.cases import default_matrix
    from lstmspec.check.precision import PRECISIONS
    from lstmspec.check.results import FAIL
    from lstmspec.check.runner import Oracle, Plan, Target, check_one
    from lstmspec.kernels.protocol import KernelAdapter

    spec = load_spec(spec_name)
    impl = KernelAdapter(kernel, kernel.__name__, spec.name)
    target = Target(kernel.__name__, "kernel", impl)
    precisions = [PRECISIONS.get(d) for d in dtypes]
    plan = Plan(spec, spec.name, default_matrix(spec), [target], ["cpu"], precisions, 0, grads=True, diagnose=True)
    oracle = Oracle(spec, 0)
    first = None
    for precision in precisions:
        for case in plan.cases:
            result = check_one(plan, oracle, target, case, "cpu", precision)
            if result.status == FAIL:
                first = first or result
                if result.diagnosis:
                    return result, first
    return None, first


def named_as(result: Any) -> str | None:
    """The variant a diagnosis names (the longest registered name that starts its sentence)."""
    from lstmspec.diagnose import VARIANTS

    head = f"matches {result.spec} with "
    if not result.diagnosis.startswith(head):
        return None
    rest = result.diagnosis[len(head):]
    found = [n for n in VARIANTS.names() if rest.startswith(n) and rest[len(n):len(n) + 2] in (": ", " (")]
    return max(found, key=len) if found else None


def undiagnosed(first: Any) -> str:
    """Why a kernel's failures leave nothing to diagnose, from its first FAIL."""
    if first is None:
        return "no failing case"
    if first.reason:
        return f"every failure is a fault ({first.reason[:60]})"
    bad = [c.quantity for c in first.comparisons if not c.passed]
    return f"fails on {', '.join(bad[:2])} only" if bad else "no diagnosable failure"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", action="append", help="only this spec's mutants (repeatable)")
    parser.add_argument("--no-images", action="store_true", help="leave out tests/image_mutants.py")
    parser.add_argument("--dtypes", default="float64,float32", help="precisions, in the order tried")
    parser.add_argument("--verbose", action="store_true", help="print each diagnosis in full on stderr")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # tiny kernels; spares OpenMP spin-waits on a shared machine
    dtypes = tuple(args.dtypes.split(","))
    rows, named, failed, right, wrong, hinted = [], 0, 0, 0, [], []
    start = time.perf_counter()
    for spec, kernel in mutants(set(args.spec) if args.spec else None, not args.no_images):
        name = kernel.__name__
        result, first = first_failure(spec, kernel, dtypes)
        expected = EXPECTED.get(name)
        if result is None:
            rows.append((f"{spec}:{name}", f"({undiagnosed(first)})", expected or "—", ""))
            continue
        failed += 1
        got = named_as(result)
        if args.verbose:
            print(f"{spec}:{name} [{result.precision} {result.case.key}] {result.diagnosis}", file=sys.stderr)
        if got is not None:
            named += 1
            if got == expected:
                right += 1
            else:
                wrong.append(f"{spec}:{name}")
        hint = re.search(r"(?:is exactly a|holds only) (\w+) number", result.diagnosis)
        if got is None and hint:
            hinted.append(f"{spec}:{name}")
        shown = got or (f"— (returns {hint.group(1)} numbers)" if hint else "—")
        rows.append((f"{spec}:{name}", shown, expected or "—", f"{result.precision} {result.case.key}"))
    print("| mutant | named as | expected | first diagnosed failure |")
    print("|---|---|---|---|")
    for mutant, got, expected, case in rows:
        print(f"| {mutant} | {got} | {expected} | {case} |")
    print(f"\nnamed {named} of {failed}")
    print(f"named as expected {right} of {named}" + (f"; otherwise: {', '.join(wrong)}" if wrong else ""))
    print(f"not named, but said to return numbers of a coarser precision: {len(hinted)}"
          + (f" ({', '.join(hinted)})" if hinted else ""))
    print(f"({time.perf_counter() - start:.0f} s)")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
