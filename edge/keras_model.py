"""Loading a user's `.keras` file for the edge commands, with one-line errors."""

import os

from kdkeras import errors


def _shape(shape):
    return "x".join(str(d) for d in shape)


def load_keras_model(path, dataset_info=None, flag="--model"):
    """Loads the Keras model at `path` and checks it fits `dataset_info`.

    Args:
        path: a `.keras` file.
        dataset_info: a `kdkeras.data.DatasetInfo` whose image shape and
            class count must match the model's input and output, or `None`.
        flag: the flag that named `path`, for the error messages.

    Raises:
        kdkeras.errors.UsageError: no such file, not a Keras model, or a
            dataset that does not fit (the message names the flag).
    """
    import keras

    errors.check(os.path.isfile(path), f"{flag}={path}: no such file")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:  # load_model raises many kinds for a file that is not a model
        raise errors.UsageError(f"{flag}={path}: not a Keras model file ({type(error).__name__})") from None
    if dataset_info is not None:
        expected = tuple(model.input_shape[1:])
        errors.check(
            tuple(dataset_info.input_shape) == expected,
            f"--dataset={dataset_info.name}: its images are {_shape(dataset_info.input_shape)} "
            f"but {flag}={path} takes {_shape(expected)}",
        )
        classes = int(model.output_shape[-1])
        errors.check(
            dataset_info.num_classes == classes,
            f"--dataset={dataset_info.name}: it has {dataset_info.num_classes} classes "
            f"but {flag}={path} gives {classes} outputs",
        )
    return model
