"""Process-wide CPU speed settings, applied when kdkeras is imported.

Importing `kdkeras` (any submodule) imports this module first, before
TensorFlow, and sets the environment TensorFlow reads once at start-up:

- `TF_ENABLE_ONEDNN_OPTS=1`: TensorFlow turns oneDNN on by default only on
  CPUs with AVX-512 VNNI/BF16 or AMX. On an AVX2-only CPU (such as the AMD
  EPYC machines kdkeras is benchmarked on) it falls back to Eigen, whose
  convolution back-propagation for the narrow layers of CIFAR ResNets is
  several times slower: a ResNet8 training step on 2 vCPUs took ~2.4x longer
  without oneDNN (see `tools/bench_throughput.py`). It is a `setdefault`:
  `TF_ENABLE_ONEDNN_OPTS=0` in the environment still switches it off.
- `TF_CPP_MIN_LOG_LEVEL=2`: TensorFlow's C++ start-up chatter stays out of
  every command's output (one line on bad input, progress bars otherwise);
  a value in the environment wins.

The setting cannot take effect when TensorFlow was imported before kdkeras;
`onednn_enabled()` says what the process actually runs with.

Thread pools are left at TensorFlow's defaults unless asked for:
`configure_threads(intra, inter)` (`--intra_op_threads`, `--inter_op_threads`)
must run before TensorFlow runs its first operation.
"""

import os
import sys

ENVIRONMENT_DEFAULTS = {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}

TENSORFLOW_WAS_IMPORTED_FIRST = "tensorflow" in sys.modules
for _name, _value in ENVIRONMENT_DEFAULTS.items():
    os.environ.setdefault(_name, _value)


def onednn_enabled():
    """Whether TensorFlow in this process runs its oneDNN (MKL) kernels."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def configure_threads(intra_op=0, inter_op=0):
    """Sets TensorFlow's thread pools; 0 keeps TensorFlow's default (one per core).

    Returns False, changing nothing, when TensorFlow has already started
    (thread pools are fixed at the first operation).
    """
    import tensorflow as tf

    try:
        if intra_op:
            tf.config.threading.set_intra_op_parallelism_threads(int(intra_op))
        if inter_op:
            tf.config.threading.set_inter_op_parallelism_threads(int(inter_op))
    except RuntimeError:
        return False
    return True


def describe():
    """One line naming the speed settings this process runs with."""
    import tensorflow as tf

    return (
        f"oneDNN {'on' if onednn_enabled() else 'off'} "
        f"(TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}), "
        f"threads intra/inter {tf.config.threading.get_intra_op_parallelism_threads()}/"
        f"{tf.config.threading.get_inter_op_parallelism_threads()} (0 = one per core)"
    )
