import numpy as np

from edge.tensor_io import from_output, to_input

INT8 = {"dtype": np.int8, "quantization": (1.0, -128)}  # the int8 input of an exported model: pixel - 128


def test_int8_input_is_quantised_and_clipped():
    pixels = np.array([0.0, 127.6, 255.0, 300.0], dtype=np.float32)
    np.testing.assert_array_equal(to_input(pixels, INT8), np.array([-128, 0, 127, 127], dtype=np.int8))


def test_int8_output_is_dequantised():
    detail = {"dtype": np.int8, "quantization": (0.25, 3)}
    np.testing.assert_allclose(from_output(np.array([3, 7, -5], dtype=np.int8), detail), [0.0, 1.0, -2.0])


def test_float_tensors_pass_through_in_their_type():
    detail = {"dtype": np.float32, "quantization": (0.0, 0)}
    assert to_input(np.array([1, 2], dtype=np.uint8), detail).dtype == np.float32
    assert from_output(np.array([0.5], dtype=np.float16), detail).dtype == np.float32
