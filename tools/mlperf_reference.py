"""MLPerf Tiny's reference ResNet-8 files, measured by `edge.benchmark` on our two CIFAR-10 test copies.

Runs `python -m edge.benchmark --runtime=tflm` on both reference files
(float32 and int8) and both test sets (the 1,000 lossless test images of
`data/cifar10-png`, the 10,000 JPEG test images of `data/cifar10-jpeg`) and
gathers the figures, with each command, in one JSON:

    python tools/mlperf_reference.py --output=results/mlperf_tiny/reference.json

By default it keeps accuracy, bytes, TFLite Micro's arena and flash, and
drops the latencies (timed once, `--runs=1`), because a machine shared by
other jobs gives latencies that say nothing. On a quiet machine,

    python tools/mlperf_reference.py --latency --output=results/mlperf_tiny/latency.json

times every file as `edge.benchmark` does by default (200 runs after 20;
in TFLite Micro, every one of the 1,000 lossless images) and keeps the
latencies; it measures on the lossless test set only, and the Markdown beside the JSON ends with a
latency table. A benchmark's JSON in `--work_dir` is reused, so a stopped run goes on where it stopped
(and a new sitting needs a new `--work_dir`).

Two checks beside them explain figures that look odd (`--checks`, on by
default; both read the test images directly, not through the benchmark):

- `runtimes`: the int8 file on the 1,000 lossless images in LiteRT with
  its three kernel sets (XNNPACK, its builtin optimised kernels, its
  reference kernels) against TFLite Micro: accuracy and top-1 agreement;
- `jpeg_decoder`: both files on the 10,000 JPEG images decoded with
  TensorFlow's default (fast integer) inverse DCT, which the image-folder
  loader uses, and with the accurate one, which PIL uses.

Students beside the line (`--students=NAME=FILE.tflite,...`, e.g. the
int8 files the edge recipe's runs export): each is benchmarked as the
reference files are, on both test sets, and compared image by image with
the reference int8 file on the 1,000 lossless images, in LiteRT and in
TFLite Micro (`edge.paired`'s statistics: the difference with its paired
bootstrap interval, the discordant images, McNemar's exact p). The JSON
gains `students`; a Markdown table of every file is written beside it
(`<output>.md`):

    python tools/mlperf_reference.py --nochecks --output=results/mlperf_tiny/students.json \
        --students=nokd=runs/mlperf_tiny/nokd/student_int8.tflite,blkd=runs/mlperf_tiny/blkd/student_int8.tflite
"""

import glob
import json
import os
import subprocess
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kdkeras import cli, errors  # noqa: E402
from kdkeras.io import write_bytes_atomic, write_json_atomic  # noqa: E402

flags.DEFINE_string("anchors", "../shared/anchors/mlperf_tiny", "folder of the reference .tflite files")
flags.DEFINE_string("lossless", "data/cifar10-png", "image folder of the lossless copy (train/ and test/)")
flags.DEFINE_string("jpeg", "data/cifar10-jpeg", "image folder of the JPEG copy (train/ and test/)")
flags.DEFINE_string("work_dir", "runs/mlperf_tiny/reference", "where each benchmark's JSON goes (reused)")
flags.DEFINE_string("output", None, "the JSON of all figures (written atomically)")
flags.DEFINE_bool("latency", False, "time every file (a quiet machine only) and keep the latencies")
flags.DEFINE_bool("checks", True, "add the runtime-kernel and JPEG-decoder checks")
flags.DEFINE_list("students", [], "NAME=FILE.tflite of students to measure beside the reference and pair with its int8")
FLAGS = flags.FLAGS

FILES = {"float32": "pretrainedResnet.tflite", "int8": "pretrainedResnet_quant.tflite"}
LATENCY_KEYS = ("latency_ms", "runs", "warmup", "peak_memory_bytes")


def benchmark_command(model, dataset, output, latency):
    timing = [] if latency else ["--runs=1", "--warmup=0"]
    return [
        "python",
        "-m",
        "edge.benchmark",
        f"--model={model}",
        f"--dataset=imagefolder:{dataset}",
        "--runtime=tflm",
        "--num_threads=1",
        *timing,
        f"--output={output}",
    ]


def run_benchmark(model, dataset, output, latency):
    """Runs (or reuses) one benchmark; returns `(command, figures)`, latencies dropped unless `latency`."""
    command = benchmark_command(model, dataset, output, latency)
    if not os.path.isfile(output):
        print("$", " ".join(command), flush=True)
        subprocess.run([sys.executable, *command[1:]], check=True)
    with open(output) as f:
        figures = json.load(f)
    if not latency:
        for key in LATENCY_KEYS:
            figures.pop(key, None)
        figures.get("tflm", {}).pop("latency_ms", None)
    return " ".join(command), figures


def read_test_images(root, dct_method=""):
    """`(pixels float32, labels)` of `root/test/<class>/*` in sorted order; classes sorted as the loader sorts them."""
    import tensorflow as tf

    classes = sorted(d for d in os.listdir(os.path.join(root, "test")) if not d.startswith("."))
    pixels, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted(glob.glob(os.path.join(root, "test", name, "*"))):
            raw = tf.io.read_file(path)
            image = tf.io.decode_jpeg(raw, dct_method=dct_method) if path.endswith((".jpg", ".jpeg")) else None
            pixels.append((image if image is not None else tf.io.decode_image(raw, channels=3)).numpy())
            labels.append(label)
    return np.stack(pixels).astype(np.float32), np.array(labels)


def litert_outputs(path, pixels, resolver=None):
    """The file's raw output tensor for every image, one batched call."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edge.tensor_io import to_input

    kind = getattr(OpResolverType, resolver) if resolver else OpResolverType.AUTO
    interpreter = Interpreter(model_path=path, num_threads=1, experimental_op_resolver_type=kind)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, pixels.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, to_input(pixels, interpreter.get_input_details()[0]))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def input_detail(path):
    """The file's input tensor detail (dtype, quantisation), as LiteRT reads it."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=path).get_input_details()[0]


def tflm_outputs(path, pixels):
    """The file's raw output tensor for every image in TFLite Micro, one image per call as it runs."""
    from tflite_micro.python.tflite_micro import runtime

    from edge.tensor_io import to_input

    interpreter = runtime.Interpreter.from_file(path, arena_size=1 << 20)
    outputs = []
    for image in to_input(pixels, input_detail(path)):
        interpreter.set_input(image[None], 0)
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_output(0)[0]))
    return np.stack(outputs)


def runtime_check(path, pixels, labels):
    """Accuracy of each LiteRT kernel set and TFLite Micro, and top-1 agreement with TFLite Micro."""
    micro = tflm_outputs(path, pixels).astype(np.int64)
    result = {"tflm": {"accuracy": float(np.mean(micro.argmax(-1) == labels))}}
    for name, resolver in (
        ("litert_xnnpack", None),
        ("litert_builtin", "BUILTIN_WITHOUT_DEFAULT_DELEGATES"),
        ("litert_reference_kernels", "BUILTIN_REF"),
    ):
        outputs = litert_outputs(path, pixels, resolver).astype(np.int64)
        result[name] = {
            "accuracy": float(np.mean(outputs.argmax(-1) == labels)),
            "top1_agreement_with_tflm": float(np.mean(outputs.argmax(-1) == micro.argmax(-1))),
            "images_with_other_outputs_than_tflm": int(np.sum(np.any(outputs != micro, axis=-1))),
            "largest_output_difference_to_tflm": int(np.max(np.abs(outputs - micro))),
        }
    return result


def jpeg_decoder_check(anchors, jpeg):
    """Accuracy of both files on the JPEG test set, by inverse DCT."""
    result = {}
    for dct in ("INTEGER_FAST", "INTEGER_ACCURATE"):
        pixels, labels = read_test_images(jpeg, dct)
        result[dct] = {
            mode: float(np.mean(litert_outputs(os.path.join(anchors, name), pixels).argmax(-1) == labels))
            for mode, name in FILES.items()
        }
    return result


def parse_students(items):
    """`--students` as `{name: path}`, each file present."""
    students = {}
    for item in items:
        name, _, path = item.partition("=")
        errors.check(bool(name and path), f"--students={item}: expected NAME=FILE.tflite")
        errors.check(name not in students, f"--students: {name} is named twice")
        errors.check(os.path.isfile(path), f"--students={item}: no file {path}")
        students[name] = path
    return students


def paired_with_reference(student_outputs, reference_outputs, labels):
    """`edge.paired`'s statistics of a student (A) against the reference (B) from both files' raw outputs."""
    from edge.paired import paired_comparison

    return paired_comparison(student_outputs.argmax(-1) == labels, reference_outputs.argmax(-1) == labels)


def _percent(value):
    return "" if value is None else f"{100 * value:.2f}%"


def _litert_and_tflm(figures):
    if figures is None:
        return "not measured"
    return f"{_percent(figures.get('accuracy'))} / {_percent(figures.get('tflm', {}).get('accuracy'))}"


def results_table(result):
    """Markdown: every file's accuracy on both test sets, bytes and arena; then each student's paired test."""
    rows = [(f"reference `{entry['file']}`", entry) for entry in result["files"].values()]
    rows += [(f"student `{name}`", entry) for name, entry in result.get("students", {}).items()]
    lines = [
        "| file | quantization | top-1, 1,000 lossless (LiteRT / TFLite Micro) | top-1, 10,000 JPEG (LiteRT / TFLite "
        "Micro) | bytes = flash | TFLite Micro arena bytes |",
        "|---|---|---|---|---|---|",
    ]
    for label, entry in rows:
        lossless = entry["test_sets"].get("lossless_1000")
        jpeg = entry["test_sets"].get("jpeg_10000")
        first = lossless or jpeg
        lines.append(
            f"| {label} | {first.get('quantization', '')} | {_litert_and_tflm(lossless)} | {_litert_and_tflm(jpeg)} "
            f"| {first['size_bytes']:,} | {first.get('tflm', {}).get('arena_bytes', 0):,} |"
        )
    paired = [(name, entry["paired_with_reference_int8"]) for name, entry in result.get("students", {}).items()]
    if paired:
        lines += [
            "",
            "Each student against the reference int8 file, image by image on the 1,000 lossless test images:",
            "",
            "| student | runtime | student | reference int8 | difference (95% paired bootstrap) | student right, "
            "reference wrong | student wrong, reference right | McNemar exact p |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, by_runtime in paired:
            for runtime, p in by_runtime.items():
                low, high = p["interval"]
                lines.append(
                    f"| {name} | {runtime} | {_percent(p['accuracy_a'])} | {_percent(p['accuracy_b'])} | "
                    f"{100 * p['difference']:+.2f} [{100 * low:+.2f}, {100 * high:+.2f}] points | "
                    f"{p['a_right_b_wrong']} | {p['a_wrong_b_right']} | {p['mcnemar_p']:.4f} |"
                )
    return "\n".join(lines + latency_table(rows)) + "\n"


def _median_and_p90(latency):
    return "not timed" if not latency else f"{latency['median']:.3f} / {latency['p90']:.3f} ms"


def latency_table(rows):
    """Markdown lines of the latencies `--latency` timed on the lossless images; none if nothing was timed."""
    timed = [(label, entry["test_sets"].get("lossless_1000", {})) for label, entry in rows]
    timed = [(label, figures) for label, figures in timed if figures.get("latency_ms")]
    if not timed:
        return []
    lines = [
        "",
        "Latency on this machine, batch 1, on the 1,000 lossless test images (compare within one sitting only):",
        "",
        "| file | bytes | LiteRT, 1 thread: median / p90 | TFLite Micro reference kernels: median / p90 |",
        "|---|---|---|---|",
    ]
    for label, figures in timed:
        lines.append(
            f"| {label} | {figures['size_bytes']:,} | {_median_and_p90(figures['latency_ms'])} | "
            f"{_median_and_p90(figures.get('tflm', {}).get('latency_ms'))} |"
        )
    return lines


def measure(path, stem, test_sets):
    """`{"test_sets": {copy: figures with the command}}` of one file."""
    suffix = "_latency" if FLAGS.latency else ""
    measured = {}
    for copy, folder in test_sets:
        output = os.path.join(FLAGS.work_dir, f"{stem}_{copy}{suffix}.json")
        command, figures = run_benchmark(path, folder, output, FLAGS.latency)
        measured[copy] = {"command": command, **figures}
    return {"test_sets": measured}


def main(argv):
    errors.check(len(argv) == 1, f"unexpected arguments: {' '.join(argv[1:])}")
    errors.check(bool(FLAGS.output), "--output: required (the JSON of all figures)")
    students = parse_students(FLAGS.students)
    for flag, folder in (("--lossless", FLAGS.lossless), ("--jpeg", FLAGS.jpeg)):
        errors.check(os.path.isdir(os.path.join(folder, "test")), f"{flag}={folder}: expected a folder with test/")
    for name in FILES.values():
        path = os.path.join(FLAGS.anchors, name)
        errors.check(os.path.isfile(path), f"--anchors={FLAGS.anchors}: no {name} there")
    os.makedirs(FLAGS.work_dir, exist_ok=True)
    test_sets = (("lossless_1000", FLAGS.lossless), ("jpeg_10000", FLAGS.jpeg))
    test_sets = test_sets[:1] if FLAGS.latency else test_sets
    result = {"tool": "python " + " ".join(sys.argv), "files": {}}
    for mode, name in FILES.items():
        stem = os.path.splitext(name)[0]
        result["files"][mode] = {"file": name, **measure(os.path.join(FLAGS.anchors, name), stem, test_sets)}
    reference_int8 = os.path.join(FLAGS.anchors, FILES["int8"])
    if FLAGS.checks or students:
        pixels, labels = read_test_images(FLAGS.lossless)
    if FLAGS.checks:
        result["runtimes_int8_lossless_1000"] = runtime_check(reference_int8, pixels, labels)
        result["jpeg_decoder"] = jpeg_decoder_check(FLAGS.anchors, FLAGS.jpeg)
    if students:
        reference = {"litert": litert_outputs(reference_int8, pixels), "tflm": tflm_outputs(reference_int8, pixels)}
        result["students"] = {}
        for name, path in students.items():
            entry = {"file": path, **measure(path, f"student_{name}", test_sets)}
            outputs = {"litert": litert_outputs(path, pixels), "tflm": tflm_outputs(path, pixels)}
            entry["paired_with_reference_int8"] = {
                runtime: paired_with_reference(outputs[runtime], reference[runtime], labels) for runtime in outputs
            }
            result["students"][name] = entry
    write_json_atomic(FLAGS.output, result)
    table = os.path.splitext(FLAGS.output)[0] + ".md"
    write_bytes_atomic(table, results_table(result).encode())
    print(f"wrote {FLAGS.output} and {table}")


if __name__ == "__main__":
    app.run(cli.run(main), flags_parser=cli.parse_flags)
