"""tf-keras (Keras 2) layers: ``tf_keras.layers.LSTM``, ``Bidirectional(LSTM)`` and ``ConvLSTM1D/2D/3D``, checked like
their Keras 3 counterparts.

Keras 2 is what many saved models were trained with; ``pip install tf-keras``
installs it beside Keras 3 as the ``tf_keras`` package. Its layers store the
same weights as Keras 3's (the spec's ``keras`` layout: ``kernel``,
``recurrent_kernel``, ``bias``, gates i, f, c(=g), o), so these adapters are
the Keras 3 ones (``keras_layers``) given the ``tf_keras`` package. What
differs is the activations: Keras 2's ``"hard_sigmoid"`` is
clip(0.2x + 0.5, 0, 1) (lstmspec's ``hard_sigmoid_keras2``) and Keras 3's
clip(x/6 + 0.5, 0, 1) has no Keras 2 name, so it is passed as a function; and
``ConvLSTM2D`` defaults to ``recurrent_activation="hard_sigmoid"`` (see
``lstmspec defaults convlstm2d``). The check always passes both activations.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..registry import Registry
from .base import FRAMEWORKS, Framework, adapter
from .keras_layers import (KerasBidirectionalBackward, KerasBidirectionalForward, KerasConvLSTM1D, KerasConvLSTM2D,
                           KerasConvLSTM3D, KerasLSTM, _KerasRecurrent)

FRAMEWORKS.register("tf_keras", Framework("tf_keras", ("tensorflow", "tf_keras"),
                                          "pip install tf-keras (in 'lstmspec[all]')"))

_modules: tuple[Any, Any] | None = None


def _tf_keras2() -> tuple[Any, Any]:
    """(tensorflow, tf_keras), imported once with TF's C++ logging quiet and TF32 off."""
    global _modules
    if _modules is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from ..quiet import quiet_native_stderr

        with quiet_native_stderr():  # TensorFlow's absl INFO lines (oneDNN, CPU features) at import
            import tensorflow as tf
            import tf_keras

            tf.config.list_physical_devices()  # where a CPU-only machine logs "failed call to cuInit"

        tf.config.experimental.enable_tensor_float_32_execution(False)  # "float32" must not be TF32
        # Bidirectional rebuilds its backward layer from the config: an activation passed as a function
        # must be registered to deserialize.
        tf_keras.utils.register_keras_serializable(package="lstmspec", name="hard_sigmoid_keras3")(_hard_sigmoid_keras3)
        _modules = (tf, tf_keras)
    return _modules


def _hard_sigmoid_keras3(x: Any) -> Any:
    """Keras 3's hard_sigmoid, relu6(x + 3)/6 = clip(x/6 + 0.5, 0, 1); not a Keras 2 activation name."""
    import tensorflow as tf

    return tf.clip_by_value(x / 6.0 + 0.5, 0.0, 1.0)


#: The spec's activation names (``lstmspec.expr.functions``) as Keras 2 takes them.
TF_KERAS_ACTIVATIONS: Registry[str | Callable[[Any], Any]] = Registry("tf-keras activation")
for _name, _keras2 in [
    ("sigmoid", "sigmoid"),
    ("tanh", "tanh"),
    ("hard_sigmoid_keras2", "hard_sigmoid"),  # Keras 2's name for clip(0.2x + 0.5, 0, 1)
    ("hard_sigmoid", _hard_sigmoid_keras3),
    ("relu", "relu"),
    ("linear", "linear"),
]:
    TF_KERAS_ACTIVATIONS.register(_name, _keras2)


class _TfKeras:
    """What tf-keras changes in a Keras 3 adapter: the package, its activations, its plain tf.Variables."""

    framework = "tf_keras"
    package = "tf_keras"
    # A second version of a layer Keras 3 has: checked on its own specs; the image specs' pipelines
    # (row_lstm, cnn_convlstm, ...) are fed to Keras 3's.
    on_extending_specs = False

    def modules(self) -> tuple[Any, Any]:
        return _tf_keras2()

    @staticmethod
    def watched(variable: Any) -> Any:
        return variable  # a tf.Variable itself (Keras 3 wraps one)

    def activation(self, name: str) -> str | Callable[[Any], Any]:
        return TF_KERAS_ACTIVATIONS.get(name)


def _keras2(keras3: type[_KerasRecurrent], **extra: Any) -> Any:
    """The tf-keras adapter of a Keras 3 adapter class: the same layer from ``tf_keras.layers``, registered under
    the Keras 3 name with ``tf_keras.`` for ``keras.`` (``tf_keras.layers.LSTM``)."""
    name = "tf_keras." + keras3.name.removeprefix("keras.")
    cls = type(f"TfKeras{keras3.__name__.removeprefix('Keras')}", (_TfKeras, keras3), {
        "name": name, "doc": f"{name} (Keras 2), CPU", "__module__": __name__, **extra})
    return adapter(cls)


# tf-keras' ConvLSTM1D and 3D are its ConvLSTM2D's cell and loop at another rank (ConvLSTMCell(rank)), and its
# Bidirectional wraps its LSTM: those two run every case; the others the reduced matrix unless --matrix full,
# which keeps a plain check within a minute on two cores.
_REDUCED = {"matrix": "reduced"}
TfKerasLSTM = _keras2(KerasLSTM)
TfKerasConvLSTM2D = _keras2(KerasConvLSTM2D)
TfKerasConvLSTM1D = _keras2(KerasConvLSTM1D, **_REDUCED)
TfKerasConvLSTM3D = _keras2(KerasConvLSTM3D, **_REDUCED)
TfKerasBidirectionalForward = _keras2(KerasBidirectionalForward, **_REDUCED)
TfKerasBidirectionalBackward = _keras2(KerasBidirectionalBackward, **_REDUCED)
