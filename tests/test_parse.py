"""The equation parser is an allow-list: what it accepts, and one precise SpecError for the rest."""
from __future__ import annotations

import pytest

from lstmspec.errors import SpecError
from lstmspec.expr.functions import FUNCTIONS
from lstmspec.expr.ir import BinOp, Call, Name, Neg, Num
from lstmspec.expr.parse import MAX_DEPTH, parse_expression

FUNCS = set(FUNCTIONS.names()) | {"recurrent_activation", "activation"}


def parse(text: str):
    return parse_expression(text, functions=FUNCS)


def test_accepts_the_lstm_gate_equation_as_a_tree():
    node = parse("recurrent_activation(x @ W_i + h @ U_i + b_i)")
    assert isinstance(node, Call) and node.func == "recurrent_activation"
    (arg,) = node.args
    assert arg == BinOp("+", BinOp("+", BinOp("@", Name("x"), Name("W_i")), BinOp("@", Name("h"), Name("U_i"))), Name("b_i"))


def test_accepts_unary_minus_literals_and_conv_options():
    node = parse("-1.5 * conv(h, U_i, padding=same, strides=1, dilation=1)")
    assert node.left == Neg(Num(1.5))
    assert node.right.kwargs == (("padding", "same"), ("strides", 1), ("dilation", 1))


def test_structurally_equal_subexpressions_compare_equal_whatever_their_text():
    assert parse("h @ U_i") == parse("h@U_i")
    assert hash(parse("h @ U_i")) == hash(parse("(h) @ U_i"))


@pytest.mark.parametrize(
    "text, message",
    [
        ("x.T @ W_i", "attribute access is not allowed"),
        ("x[0] @ W_i", "subscripts are not allowed"),
        ("(lambda: 1)()", "only plain function names can be called"),
        ("lambda: 1", "lambdas are not allowed"),
        ("[a for a in x]", "comprehensions are not allowed"),
        ("'abc'", "strings are not allowed"),
        ("__import__('os')", "unknown function '__import__'"),
        ("__class__", "dunder names are not allowed"),
        ("eval(x)", "unknown function 'eval'"),
        ("x / 2", "division is not allowed"),
        ("x ** 2", "powers are not allowed"),
        ("x if h else c", "conditional expressions are not allowed"),
        ("sigmoid(*x)", "starred arguments are not allowed"),
        ("conv(x, W, padding='same')", "option padding= takes a name or an integer"),
        ("x @", "not a valid expression"),
        ("", "empty equation"),
    ],
)
def test_rejects_anything_outside_the_allow_list_with_the_offending_text(text, message):
    with pytest.raises(SpecError) as info:
        parse(text)
    assert message in info.value.message


def test_rejection_quotes_the_offending_sub_expression():
    with pytest.raises(SpecError) as info:
        parse("sigmoid(x @ W_i + h.T @ U_i)")
    assert info.value.text == "h.T"


def test_rejects_non_string_equations():
    with pytest.raises(SpecError, match="must be a string"):
        parse_expression(3, functions=FUNCS)  # type: ignore[arg-type]


def test_conv_mask_groups_option_is_read_and_needs_a_mask():
    from lstmspec.expr.functions import conv_options

    options = conv_options(parse("conv(x, W, padding=same, strides=1, dilation=1, mask=A, mask_groups=colours)"))
    assert (options.mask, options.mask_groups) == ("A", "colours")
    for text, message in [("conv(x, W, padding=same, strides=1, dilation=1, mask_groups=3)", "it needs mask="),
                          ("conv(x, W, padding=same, strides=1, dilation=1, mask=A, mask_groups=0)",
                           "mask_groups must be a positive integer"),
                          ("conv(x, W, groups=3)", "conv has no option 'groups' (options: padding, strides, dilation, "
                                                    "mask, mask_groups)")]:
        with pytest.raises(SpecError) as info:
            conv_options(parse(text))
        assert message in info.value.message, f"message={info.value.message!r}, but should contain {message!r}"


@pytest.mark.parametrize("mask, groups, centre", [
    ("A", 1, [[0]]),
    ("B", 1, [[1]]),
    ("A", 3, [[0, 1, 1], [0, 0, 1], [0, 0, 0]]),  # R feeds G and B, G feeds B, B feeds nothing of the pixel
    ("B", 3, [[1, 1, 1], [0, 1, 1], [0, 0, 1]]),
])
def test_conv_masks_keep_the_left_taps_and_split_the_centre_by_colour(mask, groups, centre):
    import numpy as np

    from lstmspec.expr.masks import kernel_mask

    size = len(centre)
    m = kernel_mask(mask, (3, size, size), groups)  # taps at offsets -1, 0, +1
    np.testing.assert_array_equal(m[0], np.ones((size, size)))
    np.testing.assert_array_equal(m[1], np.array(centre, dtype=float))
    np.testing.assert_array_equal(m[2], np.zeros((size, size)))
    six = kernel_mask(mask, (1, 6, 3), groups)[0]  # 6 channels in 3 contiguous groups: R R G G B B
    np.testing.assert_array_equal(six, np.repeat(np.repeat(np.array(centre, dtype=float), 6 // size, 0), 3 // size, 1))
    assert kernel_mask("none", (3, 2, 2), groups) is None


@pytest.mark.parametrize("text", [
    "x" + " + x" * MAX_DEPTH,  # a flat sum of MAX_DEPTH + 1 terms: MAX_DEPTH additions
    "x" + " * x" * MAX_DEPTH,
    "-" * MAX_DEPTH + "x",
])
def test_expressions_up_to_the_depth_limit_parse(text):
    node = parse(text)
    assert node.names() == {"x"}


@pytest.mark.parametrize("text, depth", [
    ("x" + " + x" * (MAX_DEPTH + 1), MAX_DEPTH + 1),
    ("x" + " + x" * 600, 600),
    ("-" * 500 + "x", 500),
    ("sigmoid(" + "x * " * 200 + "x)", 201),
])
def test_expressions_deeper_than_the_limit_are_one_spec_error(text, depth):
    with pytest.raises(SpecError) as info:
        parse(text)
    assert info.value.message.startswith(f"the expression nests {depth} operations deep; at most {MAX_DEPTH} are allowed")


@pytest.mark.parametrize("text", ["x" + " + x" * 5000, "-" * 20000 + "x"])
def test_expressions_too_deep_for_pythons_parser_are_a_spec_error_not_recursion_or_memory_error(text):
    with pytest.raises(SpecError, match="nests too deeply to parse"):
        parse(text)


def test_an_equation_at_the_depth_limit_goes_through_every_stage_with_room_on_the_stack(tmp_path):
    """The limit is there for what comes after the parser: lint, the reference (plain and compiled),
    typesetting and FLOP counts all walk the tree recursively; here each runs below 300 frames of caller."""
    import numpy as np

    from lstmspec.expr.render import render_equations
    from lstmspec.flops import count_flops
    from lstmspec.reference.backends import get_backend
    from lstmspec.reference.evaluate import evaluate
    from lstmspec.spec import specs_dir
    from lstmspec.spec.loader import lint_file

    deep = "f * c + i * g" + " + 0 * c" * (MAX_DEPTH - 2)
    path = tmp_path / "deep.toml"
    path.write_text((specs_dir() / "lstm.toml").read_text().replace('c_t = "f * c + i * g"', f'c_t = "{deep}"'))

    def below(frames: int, run):
        return run() if frames == 0 else below(frames - 1, run)

    spec, findings = below(300, lambda: lint_file(path))
    assert findings == [] and below(300, lambda: parse(deep)) == spec.equations["c_t"].node
    rng = np.random.default_rng(0)
    params, (x, state) = spec.random_params(None, rng), spec.random_inputs(None, rng)
    y, final = below(300, lambda: spec.reference(x, state, params))
    env = {**params, "x": x[:, 0], **state}
    be = get_backend("numpy")
    env.update({name: evaluate(spec.equations[name].node, env, spec.resolve_config({}), be)
                for name in ("i", "f", "g")})
    c_t = below(300, lambda: evaluate(spec.equations["c_t"].node, env, spec.resolve_config({}), be))
    np.testing.assert_allclose(c_t, env["f"] * state["c"] + env["i"] * env["g"], rtol=1e-12)
    assert "c_t" in below(300, lambda: render_equations(spec, "latex"))
    assert below(300, lambda: count_flops(spec)) is not None


@pytest.mark.parametrize("text, message", [
    ("x @ Ｗ_i", "non-ASCII letter 'Ｗ' (FULLWIDTH LATIN CAPITAL LETTER W) in identifier; did you mean 'W_i'?"),
    ("o * tanh(ℎ)", "non-ASCII letter 'ℎ' (PLANCK CONSTANT) in identifier; did you mean 'h'?"),
    ("x \u2212 h", "non-ASCII character '\u2212' (MINUS SIGN); equations are written in ASCII; did you mean '-'?"),
    ("x ＋ h", "non-ASCII character '＋' (FULLWIDTH PLUS SIGN); equations are written in ASCII; did you mean '+'?"),
    ("x + naïve", "non-ASCII letter 'ï' (LATIN SMALL LETTER I WITH DIAERESIS) in identifier"),  # no ASCII look-alike
])
def test_non_ascii_is_refused_before_python_folds_it_into_a_look_alike(text, message):
    with pytest.raises(SpecError) as info:
        parse(text)
    assert info.value.message == message


def test_dimension_formulas_share_the_ascii_and_depth_checks_and_refuse_a_zero_divisor():
    from lstmspec.expr.formula import parse_formula

    for text, message in [("ｕnits + 1", "non-ASCII letter 'ｕ'"), ("units" + " + 1" * 600, "the formula nests 600"),
                          ("units // 0", "division by zero"), ("ceil(units / 0)", "division by zero"),
                          ("4 // 0", "division by zero")]:
        with pytest.raises(SpecError) as info:
            parse_formula(text, dims={"units"})
        assert info.value.message.startswith(message), info.value.message
