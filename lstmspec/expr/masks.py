"""Causal masks of ``conv(..., mask=A, mask_groups=colours)``: PixelRNN's masks A and B, as data.

A masked convolution is ``same`` with stride 1, so output position p reads
input p + t - centre at tap t, where the centre ``(k - 1) // 2`` is
TensorFlow's padding before the input. The taps whose offset ``t - centre``
comes before the centre in raster order (lexicographically negative: in 1-d
the pixels to the left; in 2-d the rows above and the pixels to the left on
the centre row) are kept whole, the taps after it are zero. At the centre
tap, the pixel itself, the channels are split into ``mask_groups``
contiguous groups, input channel c of C in group ``c * groups // C`` and
output feature f of F in group ``f * groups // F`` (equal thirds when 3
divides C and F, as R, G, B in van den Oord et al. 2016, section 3.4), and
input group a feeds output group b when the mask's rule allows it:

    A   a < b    the first layer: a colour sees the colours before it, not itself
    B   a <= b   later layers: and itself

With one group (a grayscale image) mask A drops the centre tap and mask B
keeps it whole. A mask is a registered rule, so another (a PixelCNN++-style
mask, say) is one more entry, not a change to the reference.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..registry import Registry


@dataclass(frozen=True)
class ConvMask:
    name: str
    doc: str
    centre: Callable[[int, int], bool] | None  # (input group, output group) -> connected; None: no mask at all


MASKS: Registry[ConvMask] = Registry("conv mask")
for _m in (
    ConvMask("none", "no mask", None),
    ConvMask("A", "taps before the pixel; at the pixel, input colour groups before the output's own", lambda a, b: a < b),
    ConvMask("B", "taps before the pixel; at the pixel, input colour groups up to the output's own",
             lambda a, b: a <= b),
):
    MASKS.register(_m.name, _m)


def colour_group(index: int, size: int, groups: int) -> int:
    """The group of channel ``index`` of ``size`` split into ``groups`` contiguous parts."""
    return index * groups // size


def kernel_mask(name: str, kernel_shape: tuple[int, ...], groups: int = 1) -> Any:
    """The 0/1 mask of a kernel ``(k..., C, F)`` (numpy float64, same shape), or None for ``none``."""
    import numpy as np

    rule = MASKS.get(name).centre
    if rule is None:
        return None
    *taps, channels, features = kernel_shape
    out = np.zeros(tuple(kernel_shape))
    centre = np.array([[float(rule(colour_group(c, channels, groups), colour_group(f, features, groups)))
                        for f in range(features)] for c in range(channels)])
    for tap in np.ndindex(*taps):
        offset = [t - (k - 1) // 2 for t, k in zip(tap, taps)]
        first = next((o for o in offset if o != 0), 0)
        if first < 0:
            out[tap] = 1.0
        elif first == 0:
            out[tap] = centre
    return out


def resolve_mask(options: Any, attrs: Mapping[str, Any], kernel_shape: tuple[int, ...]) -> Any:
    """The mask of one conv call's ``ConvOptions`` under ``attrs`` (names resolved), or None when unmasked."""
    name = options.mask
    if name is None:
        return None
    if name not in MASKS:
        name = attrs[name]
    groups = options.mask_groups
    if groups is None:
        groups = 1
    elif isinstance(groups, str):
        groups = int(attrs[groups])
    return kernel_mask(str(name), kernel_shape, int(groups))
