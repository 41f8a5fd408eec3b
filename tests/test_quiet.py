"""``lstmspec/quiet.py``: TensorFlow's own log lines (absl, oneDNN, CPU features, XLA) stay off the terminal of
``check`` and ``bench``, helper processes included, unless ``-v`` asks for them."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

TF_LOG = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl|To enable the following instructions)",
                    re.M)


def _stderr(*args: str) -> str:
    ran = subprocess.run([sys.executable, "-m", "lstmspec", *args], capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr
    return ran.stderr


def test_check_with_helper_processes_prints_no_tensorflow_log_line_unless_verbose():
    pytest.importorskip("keras")
    quiet = _stderr("check", "lstm", "--framework", "keras.layers.LSTM", "--where", "time=1", "--jobs", "2")
    assert not TF_LOG.search(quiet), quiet
    assert "keras.layers.LSTM | cpu | float64: 2 passed" in quiet  # progress still comes
    loud = _stderr("check", "lstm", "--framework", "keras.layers.LSTM", "--where", "time=1", "--jobs", "1", "-v")
    assert TF_LOG.search(loud), "with -v TensorFlow's own lines should come through"


def test_bench_prints_no_tensorflow_log_line():
    pytest.importorskip("keras")
    err = _stderr("bench", "lstm", "--suite", "tiny", "--quick", "--threads", "1", "--framework", "keras.layers.LSTM",
                  "--no-peak")
    assert not TF_LOG.search(err), err


def test_defaults_prints_no_tensorflow_log_line():
    pytest.importorskip("keras")
    err = _stderr("defaults", "convlstm2d")
    assert not TF_LOG.search(err), err


@pytest.mark.parametrize("framework", ["tf_keras.layers.ConvLSTM3D", "keras.layers.ConvLSTM2D->tflite->litert"])
def test_keras2_xla_and_converter_paths_print_no_tensorflow_log_line(framework):
    """tf-keras' ConvLSTM3D compiles channels_first with XLA (which logs at its first compile), the TFLite converter
    logs from C++, and TensorFlow logs "failed call to cuInit" where no GPU is found."""
    pytest.importorskip(framework.split(".")[0])
    pytest.importorskip("ai_edge_litert")
    where = ["convlstm3d", "--matrix", "full", "--where", "data_format=channels_first"] if "3D" in framework else \
        ["convlstm2d", "--matrix", "full", "--where", "time=1"]
    err = _stderr("check", *where, "--framework", framework, "--jobs", "2")
    assert not TF_LOG.search(err), err
