"""The equation parser is an allow-list: what it accepts, and one precise SpecError for the rest."""
from __future__ import annotations

import pytest

from lstmspec.errors import SpecError
from lstmspec.expr.functions import FUNCTIONS
from lstmspec.expr.ir import BinOp, Call, Name, Neg, Num
from lstmspec.expr.parse import parse_expression

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
