"""An LSTM whose cell is one fused Triton kernel per step, against lstmspec's kernel protocol.

    lstmspec check lstm --kernel examples/lstm_triton.py:lstm

What a fused GPU LSTM does (cuDNN, PyTorch's ``_thnn_fused_lstm_cell``): the
input term of every step is one GEMM (``x @ W + b``), each step adds
``h @ U`` to its slice in one more GEMM (``torch.addmm``), and one kernel does
the rest of the step in a single pass over the gates, reading each
pre-activation once: three sigmoids, two tanh, the cell update, and the
writes of ``c`` and of ``h`` straight into the output sequence.

Rounding choices a reader should be able to see, and a check to confirm:

- float16 and bfloat16 inputs are computed in float32 inside the kernel, and
  the cell state is *kept* in float32 from step to step (rounded to the
  input's type only when returned), as cuDNN does;
- ``tanh(z)`` is ``2 * sigmoid(2z) - 1`` (Triton has no tanh of its own): its
  error near 0 is absolute (about 1e-16 in float64), not relative;
- sigmoid is ``1 / (1 + exp(-z))`` with ``tl.exp``, not ``tl.sigmoid``.

Where CUDA is available the kernel is compiled for the GPU and declares it
runs only there; without CUDA it runs in Triton's interpreter
(``TRITON_INTERPRET=1``, set below) on the CPU, so the same code can be
checked on a laptop or in CI before it meets a GPU. The kernel calls no
``@triton.jit`` function, ``tl.sigmoid`` included: those of a Triton imported
before the variable was set are compiled ones, which the interpreter cannot call.
Importing Triton after TensorFlow aborts the process (both bundle LLVM: "Option
'bitcode-mdindex-threshold' registered more than once"); the other order works,
so ``lstmspec check`` and ``bench`` load kernels before any framework. No
autograd: the backward would be a second kernel, so gradients are not checked.
"""
import os

import torch

ON_GPU = torch.cuda.is_available()
if not ON_GPU:
    os.environ.setdefault("TRITON_INTERPRET", "1")  # read when @triton.jit runs, below

import triton  # noqa: E402
import triton.language as tl  # noqa: E402

BLOCK = 128  # hidden units per program: one program per (batch row, block of units)


@triton.jit
def lstm_cell(z_ptr, c_ptr, h_out_ptr, c_out_ptr, units, z_row, c_row, h_row, c_out_row,
              COMPUTE: tl.constexpr, BLOCK: tl.constexpr):
    """One step for one batch row and BLOCK units: z holds the pre-activations of the gates i, f, g, o."""
    row = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    keep = cols < units
    z = z_ptr + row * z_row + cols
    # sigmoid(z) = 1 / (1 + exp(-z)), tanh(z) = 2 * sigmoid(2z) - 1, written out with tl.exp: see the docstring
    i = 1.0 / (1.0 + tl.exp(-tl.load(z, mask=keep).to(COMPUTE)))
    f = 1.0 / (1.0 + tl.exp(-tl.load(z + units, mask=keep).to(COMPUTE)))
    g = 2.0 / (1.0 + tl.exp(-2.0 * tl.load(z + 2 * units, mask=keep).to(COMPUTE))) - 1.0
    o = 1.0 / (1.0 + tl.exp(-tl.load(z + 3 * units, mask=keep).to(COMPUTE)))
    c = f * tl.load(c_ptr + row * c_row + cols, mask=keep).to(COMPUTE) + i * g
    h = o * (2.0 / (1.0 + tl.exp(-2.0 * c)) - 1.0)
    tl.store(c_out_ptr + row * c_out_row + cols, c.to(c_out_ptr.dtype.element_ty), mask=keep)
    tl.store(h_out_ptr + row * h_row + cols, h.to(h_out_ptr.dtype.element_ty), mask=keep)


def lstm(x, state, params, config):
    """x (batch, time, input); state {"h", "c"} (batch, units); returns (y, {"h", "c"})."""
    batch, steps, _ = x.shape
    units = state["h"].shape[1]
    W = torch.cat([params[f"W_{g}"] for g in "ifgo"], dim=1)  # (input, 4*units), gates i, f, g, o
    U = torch.cat([params[f"U_{g}"] for g in "ifgo"], dim=1)
    b = torch.cat([params[f"b_{g}"] for g in "ifgo"])
    xw = torch.addmm(b, x.reshape(batch * steps, -1), W).reshape(batch, steps, 4 * units)
    half = x.dtype in (torch.float16, torch.bfloat16)
    compute = tl.float32 if half else (tl.float64 if x.dtype == torch.float64 else tl.float32)
    # c ping-pongs between two buffers of our own (never written into the caller's state["c"])
    c0 = state["c"].to(torch.float32 if half else x.dtype, copy=True).contiguous()
    cells = [c0, torch.empty_like(c0)]
    y = torch.empty(batch, steps, units, dtype=x.dtype, device=x.device)
    h = state["h"]
    grid = (batch, triton.cdiv(units, BLOCK))
    for t in range(steps):
        z = torch.addmm(xw[:, t], h, U)  # (batch, 4*units), contiguous
        c_in, c_out = cells[t % 2], cells[(t + 1) % 2]
        h_out = y[:, t]  # a strided view: rows time*units apart
        lstm_cell[grid](z, c_in, h_out, c_out, units, z.stride(0), c_in.stride(0), h_out.stride(0),
                        c_out.stride(0), COMPUTE=compute, BLOCK=BLOCK)
        h = h_out
    return y, {"h": h.contiguous(), "c": cells[steps % 2].to(x.dtype)}


lstm.lstmspec_devices = ("cuda",) if ON_GPU else ("cpu",)
lstm.lstmspec_supports = {"activation": ["tanh"], "recurrent_activation": ["sigmoid"], "direction": ["forward"]}
