"""PixelRNN's Row LSTM layer (van den Oord et al. 2016) in PyTorch, with the paper's stacked kernels.

    lstmspec check pixelrnn_row_lstm --kernel examples/pixelrnn_row_lstm.py:row_lstm --grad

No framework ships it; this is written against lstmspec's kernel protocol
with ``lstmspec_layout = "paper"``: ``params`` holds the paper's tensors,
K_is (k_is, channels, 4*units) and K_ss (k_ss, units, 4*units) with the
gates stacked o, f, i, g, and one bias b, as the spec's ``[layouts.paper]``
stores them. Device-agnostic.

As in section 3.1 of the paper, the input-to-state term is computed for the
whole image at once (a masked 1-D convolution along each row), then the rows
are processed top to bottom, each step one 1-D convolution of the row above's
hidden state; both convolutions are `same` (TensorFlow's rule: an even
kernel's extra padding goes on the right). The mask (section 3.4) keeps the
taps left of pixel j whole and drops those right of it; at pixel j itself the
input channels and each gate's units are split into ``config["colours"]``
contiguous groups (R, G, B), and input group a feeds output group b when
a < b (mask A, the first layer) or a <= b (mask B). With one colour group,
mask A drops the pixel and mask B keeps it.
"""
import torch
import torch.nn.functional as F

ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "hard_sigmoid": lambda z: torch.clamp(z / 6.0 + 0.5, 0.0, 1.0),
    "hard_sigmoid_keras2": lambda z: torch.clamp(0.2 * z + 0.5, 0.0, 1.0),
    "relu": torch.relu,
    "linear": lambda z: z,
}


def conv_row(v, kernel):
    """1-D `same` cross-correlation along the row: v (N, cols, C), kernel (k, C, F) -> (N, cols, F)."""
    k = kernel.shape[0]
    left = (k - 1) // 2
    out = F.conv1d(F.pad(v.transpose(1, 2), (left, k - 1 - left)), kernel.permute(2, 1, 0))
    return out.transpose(1, 2)


def colour_mask(kernel, mask, colours):
    """The 0/1 mask of K_is (k, channels, 4*units), gates stacked: groups within each gate's units."""
    k, channels, stacked = kernel.shape
    units = stacked // 4
    device = kernel.device
    group_in = torch.arange(channels, device=device) * colours // channels
    group_out = (torch.arange(stacked, device=device) % units) * colours // units
    centre = group_in[:, None] < group_out[None, :] if mask == "A" else group_in[:, None] <= group_out[None, :]
    left = (torch.arange(k, device=device) - (k - 1) // 2 < 0)[:, None, None]
    keep = left.expand(k, channels, stacked).clone()
    keep[(k - 1) // 2] = centre
    return keep.to(kernel.dtype)


def row_lstm(x, state, params, config):
    """x (batch, rows, cols, channels); state h, c (batch, cols, units); returns every row's h and the last h, c."""
    act, rec = ACTIVATIONS[config["activation"]], ACTIVATIONS[config["recurrent_activation"]]
    batch, rows, cols, channels = x.shape
    K_is = params["K_is"] * colour_mask(params["K_is"], config["mask"], config["colours"])
    K_ss, b = params["K_ss"], params["b"]
    # input-to-state for the whole image: every row convolved at once
    x_is = conv_row(x.reshape(batch * rows, cols, channels), K_is).reshape(batch, rows, cols, -1) + b
    h, c = state["h"], state["c"]
    outputs = []
    for i in range(rows):
        o, f, i_, g = (x_is[:, i] + conv_row(h, K_ss)).chunk(4, dim=-1)  # the paper's order: o, f, i, g
        c = rec(f) * c + rec(i_) * act(g)
        h = rec(o) * act(c)
        outputs.append(h)
    return torch.stack(outputs, dim=1), {"h": h, "c": c}


row_lstm.lstmspec_layout = "paper"
row_lstm.lstmspec_grad = True
row_lstm.lstmspec_supports = {"activation": tuple(ACTIVATIONS), "recurrent_activation": tuple(ACTIVATIONS)}
