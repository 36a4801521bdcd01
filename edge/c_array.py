"""A `.tflite` file as the C++ sources a microcontroller's firmware compiles in.

A board without a file system gets its model as a constant array in flash.
`write_c_array` writes the bytes as `xxd -i` would, but `const` (so the
linker keeps them in flash) and `alignas(16)` (TFLM reads the flatbuffer in
place and needs it aligned), a header declaring them, and a header that
registers exactly the model's operators with a
`tflite::MicroMutableOpResolver<N>`, so no unused kernel takes flash.

For a `.tflite` file already exported (`python -m edge.export --c_array`
does it while exporting a `.keras` student):

    python -m edge.c_array --model=student_int8.tflite [--output_stem=firmware/model]
"""

import os
import re

from absl import app, flags

from edge.operators import resolver_method
from edge.tflm import tflm_footprint
from kdkeras.io import write_bytes_atomic

_BYTES_PER_LINE = 12


def array_name(path):
    """The array's C name, as `xxd -i` derives it from the file name.

    `student_int8.tflite` -> `student_int8_tflite`.
    """
    name = re.sub(r"\W", "_", os.path.basename(path), flags=re.ASCII)
    return "_" + name if name[0].isdigit() else name


def _source(name, header, data):
    rows = [
        "  " + ", ".join(f"0x{byte:02x}" for byte in data[start : start + _BYTES_PER_LINE])
        for start in range(0, len(data), _BYTES_PER_LINE)
    ]
    return (
        f"// The model's bytes, as `xxd -i` writes them, const (kept in flash) and aligned for TFLite Micro.\n"
        f'#include "{header}"\n\n'
        f"alignas(16) const unsigned char {name}[] = {{\n" + ",\n".join(rows) + "\n};\n"
        f"const unsigned int {name}_len = {len(data)};\n"
    )


def _guard(file_name):
    return re.sub(r"\W", "_", file_name, flags=re.ASCII).upper() + "_"


def _header(name, file_name, footprint):
    guard = _guard(file_name)
    return (
        f"#ifndef {guard}\n#define {guard}\n\n"
        f"// The model for tflite::GetModel({name}): {footprint['flash_bytes']} bytes of flash.\n"
        f"// TFLite Micro's allocator took {footprint['arena_bytes']} bytes of tensor arena on the host;\n"
        f"// give the board's arena that much and a margin (pointer sizes differ).\n"
        f"extern const unsigned char {name}[];\n"
        f"extern const unsigned int {name}_len;\n\n"
        f"#endif  // {guard}\n"
    )


def _ops_header(name, file_name, operators):
    guard = _guard(file_name)
    calls = "".join(f"  if (resolver.{resolver_method(op)}() != kTfLiteOk) return kTfLiteError;\n" for op in operators)
    return (
        f"#ifndef {guard}\n#define {guard}\n\n"
        f'#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"\n\n'
        f"// The {len(operators)} operators of the model, read from its file: {', '.join(operators)}.\n"
        f"using {name}_op_resolver = tflite::MicroMutableOpResolver<{len(operators)}>;\n\n"
        f"inline TfLiteStatus {name}_register_ops({name}_op_resolver& resolver) {{\n"
        f"{calls}"
        f"  return kTfLiteOk;\n}}\n\n"
        f"#endif  // {guard}\n"
    )


def write_c_array(tflite_path, output_stem=None):
    """Writes `<stem>.cc`, `<stem>.h` and `<stem>_ops.h` for a `.tflite` file, each atomically.

    The model is first opened in TFLite Micro, so a file with an operator
    TFLM lacks (or a custom one) gets no C files.

    Args:
        tflite_path: the `.tflite` file.
        output_stem: path without extension of the files to write; the
            `.tflite` path without its extension by default.

    Returns:
        A dict: `source`, `header`, `ops_header` (paths), `array` (the C
        name), `size_bytes` and `operators`.

    Raises:
        kdkeras.errors.UsageError: not a TFLite model, or one TFLM cannot run.
    """
    footprint = tflm_footprint(tflite_path)
    operators = footprint["operators"]
    for op in operators:
        resolver_method(op)
    with open(tflite_path, "rb") as f:
        data = f.read()
    stem = output_stem or os.path.splitext(tflite_path)[0]
    name = array_name(tflite_path)
    paths = {"source": stem + ".cc", "header": stem + ".h", "ops_header": stem + "_ops.h"}
    header_name = os.path.basename(paths["header"])
    write_bytes_atomic(paths["header"], _header(name, header_name, footprint).encode())
    write_bytes_atomic(
        paths["ops_header"], _ops_header(name, os.path.basename(paths["ops_header"]), operators).encode()
    )
    write_bytes_atomic(paths["source"], _source(name, header_name, data).encode())
    return {
        **{k: os.path.abspath(v) for k, v in paths.items()},
        "array": name,
        "size_bytes": len(data),
        "operators": operators,
    }


FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
    """The command's flags (in `flag_values`: a test gives its own)."""
    flags.DEFINE_string("model", None, "the .tflite file", flag_values=flag_values)
    flags.DEFINE_string(
        "output_stem", None, "path without extension of the C files (default: the model's)", flag_values=flag_values
    )


def main(argv):
    """Writes the C files of `--model` and prints one line."""
    from kdkeras import errors

    errors.check(len(argv) == 1, f"unexpected arguments: {' '.join(argv[1:])}")
    errors.check(bool(FLAGS.model), "--model: required (a .tflite file)")
    errors.check(os.path.isfile(FLAGS.model), f"--model={FLAGS.model}: no such file (expected a .tflite file)")
    if FLAGS.output_stem:
        os.makedirs(os.path.dirname(FLAGS.output_stem) or ".", exist_ok=True)
    written = write_c_array(FLAGS.model, FLAGS.output_stem)
    print(
        f"{FLAGS.model}: {written['size_bytes']} bytes as {written['array']} in {written['source']} and "
        f"{written['header']}; {len(written['operators'])} operators registered in {written['ops_header']}"
    )


if __name__ == "__main__":
    from kdkeras import cli

    define_flags()
    app.run(cli.run(main), flags_parser=cli.parse_flags)
