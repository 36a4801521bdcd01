"""The C array is the file's bytes; the resolver header registers the file's operators."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from edge.c_array import write_c_array
from kdkeras.errors import UsageError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# micro_mutable_op_resolver.h's methods for the operators a registry student converts to.
METHODS = {
    "SUB": "AddSub",
    "CONV_2D": "AddConv2D",
    "ADD": "AddAdd",
    "MEAN": "AddMean",
    "FULLY_CONNECTED": "AddFullyConnected",
    "MAX_POOL_2D": "AddMaxPool2D",
}


def _array_bytes(source):
    body = source[source.index("{") + 1 : source.index("};")]
    return bytes(int(token, 16) for token in re.findall(r"0x([0-9a-f]{2})", body))


@pytest.fixture(scope="module")
def written(exported, tmp_path_factory):
    path = tmp_path_factory.mktemp("c_array") / "student_int8.tflite"
    shutil.copyfile(exported("int8")["path"], path)
    return str(path), write_c_array(str(path))


def test_the_array_holds_the_file_bytes(written):
    path, facts = written
    with open(path, "rb") as f:
        data = f.read()
    source = open(facts["source"]).read()
    assert facts["array"] == "student_int8_tflite"
    assert "alignas(16) const unsigned char student_int8_tflite[]" in source
    assert _array_bytes(source) == data
    assert re.search(r"const unsigned int student_int8_tflite_len = (\d+);", source).group(1) == str(len(data))
    header = open(facts["header"]).read()
    assert "extern const unsigned char student_int8_tflite[];" in header


@pytest.mark.skipif(shutil.which("xxd") is None, reason="xxd is not installed")
def test_the_bytes_are_those_xxd_writes(written):
    path, facts = written
    xxd = subprocess.run(
        ["xxd", "-i", os.path.basename(path)], cwd=os.path.dirname(path), capture_output=True, text=True
    )
    assert _array_bytes(xxd.stdout) == _array_bytes(open(facts["source"]).read())
    assert f"student_int8_tflite_len = {facts['size_bytes']};" in xxd.stdout


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
def test_compiled_array_is_aligned_and_equal_to_the_file(written, tmp_path):
    path, facts = written
    main = tmp_path / "main.cc"
    main.write_text(
        '#include <cstdint>\n#include <cstdio>\n#include "student_int8.h"\n'
        "int main(int argc, char** argv) {\n"
        "  if (reinterpret_cast<std::uintptr_t>(student_int8_tflite) % 16 != 0) return 3;\n"
        '  std::FILE* out = std::fopen(argv[1], "wb");\n'
        "  std::fwrite(student_int8_tflite, 1, student_int8_tflite_len, out);\n"
        "  return std::fclose(out);\n}\n"
    )
    binary, copy = tmp_path / "main", tmp_path / "copy.tflite"
    build = subprocess.run(
        [
            "g++",
            "-std=c++17",
            "-O0",
            f"-I{os.path.dirname(facts['header'])}",
            str(main),
            facts["source"],
            "-o",
            str(binary),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    assert subprocess.run([str(binary), str(copy)]).returncode == 0
    with open(path, "rb") as f:
        assert copy.read_bytes() == f.read()


def test_the_resolver_registers_the_operators_the_analyzer_reads(written, capsys):
    import tensorflow as tf

    path, facts = written
    capsys.readouterr()
    tf.lite.experimental.Analyzer.analyze(model_path=path)
    analyzed = set(re.findall(r"Op#\d+ (\w+)\(", capsys.readouterr().out))
    assert analyzed and set(facts["operators"]) == analyzed
    ops_header = open(facts["ops_header"]).read()
    assert f"tflite::MicroMutableOpResolver<{len(analyzed)}>" in ops_header
    assert re.findall(r"resolver\.(\w+)\(\)", ops_header) == [METHODS[op] for op in facts["operators"]]


def test_a_model_tflm_cannot_run_gets_no_c_files(sign_tflite, tmp_path):
    with pytest.raises(UsageError, match="operator SIGN"):
        write_c_array(sign_tflite, str(tmp_path / "sign"))
    assert os.listdir(tmp_path) == []


def _command(module, *flags):
    """`python -m <module> <flags>` from the repository, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", module, *flags],
        cwd=REPO,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_writes_the_c_files(keras_model_path, tmp_path):
    output = tmp_path / "student.tflite"
    result = _command("edge.export", f"--model={keras_model_path}", f"--output={output}", "--c_array")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1 and "5 operators" in result.stdout
    assert sorted(os.listdir(tmp_path)) == ["student.cc", "student.h", "student.tflite", "student_ops.h"]
    assert _array_bytes((tmp_path / "student.cc").read_text()) == output.read_bytes()


def test_the_command_writes_the_c_files_of_a_tflite_file(written, tmp_path):
    path, _ = written
    stem = tmp_path / "firmware" / "model"  # its folder is made
    result = _command("edge.c_array", f"--model={path}", f"--output_stem={stem}")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1 and "student_int8_tflite" in result.stdout
    assert sorted(os.listdir(stem.parent)) == ["model.cc", "model.h", "model_ops.h"]
    with open(path, "rb") as f:
        assert _array_bytes((stem.parent / "model.cc").read_text()) == f.read()


def test_the_command_refuses_a_missing_file_in_one_line(tmp_path):
    result = _command("edge.c_array", f"--model={tmp_path / 'absent.tflite'}")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].endswith("absent.tflite: no such file (expected a .tflite file)")
