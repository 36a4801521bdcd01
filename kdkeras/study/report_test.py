import math
import os

import numpy as np
import pytest

from kdkeras import accounting
from kdkeras.config import TrainConfig
from kdkeras.study import collect, report
from kdkeras.study import plan as study_plan

T_975 = {1: 12.706, 2: 4.303}  # printed t-table quantiles, independent of scipy


def row(method, seed, accuracy, teacher=0.9, seconds=100.0):
    found = {column: "" for column in collect.CSV_COLUMNS}
    found.update(
        method=method,
        seed=seed,
        student_arch="resnet8",
        student_accuracy=accuracy,
        teacher_arch="resnet20" if method != "nokd" else "",
        teacher_accuracy=teacher if method != "nokd" else "",
        uses_shared_teacher=method != "nokd",
        models_trained=1,
        train_seconds=seconds,
        total_seconds=seconds,
        images_forward=2000,
        images_backward=1000,
        train_flops=10,
        total_train_flops=10,
        diagnostics={},
        blkd_models=[],
        label_models=[],
        records_lost=True,
        final_role=None,
    )
    return found


ROWS = [
    row("nokd", 0, 0.80),
    row("blkd", 0, 0.83),
    row("blkd", 1, 0.82),
    row("blkd", 2, 0.84),
    row("blkd", 3, 0.90),  # no wskd on seed 3: not paired
    row("wskd", 0, 0.78),
    row("wskd", 1, 0.80),
    row("wskd", 2, 0.79),
]


def make_plan(tmp_path, **changes):
    settings = dict(
        recipe=TrainConfig(teacher_checkpoint=str(tmp_path / "t" / "student.keras")),
        methods=["nokd", "blkd", "wskd"],
        seeds=[0, 1, 2],
        extra_methods=[],
        extra_seeds=[0],
        variants={},
        output_dir=str(tmp_path / "runs"),
        edge="off",
        results_dir=str(tmp_path / "results"),
    )
    settings.update(changes)
    return study_plan.Plan(**settings)


def markdown(plan, rows=ROWS, lost=(), kept=()):
    evidence = collect.Evidence(rows, {}, [], list(lost), collect.lost_external_teacher(plan, rows))
    return report.markdown(plan, evidence, accounting.study_work([]), ["cost.png"], kept)


def cells(text, start):
    line = next(line for line in text.splitlines() if line.startswith(start))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_difference_to_blkd_is_paired_by_seed_with_a_t_interval_and_says_so(tmp_path):
    text = markdown(make_plan(tmp_path))
    differences = [0.78 - 0.83, 0.80 - 0.82, 0.79 - 0.84]
    delta = cells(text, "| wskd |")[5]
    mean, half = delta.split(" (n=3)")[0].split(" ± ")
    assert float(mean) == pytest.approx(100 * np.mean(differences), abs=0.006)
    assert float(half) == pytest.approx(100 * T_975[2] * np.std(differences, ddof=1) / math.sqrt(3), abs=0.01)
    assert cells(text, "| nokd |")[5] == f"{100 * (0.80 - 0.83):+.2f} (1 seed)" and cells(text, "| blkd |")[5] == "–"
    assert cells(text, "| blkd |")[3] == f"{100 * np.mean([0.83, 0.82, 0.84, 0.90]):.2f} ± " + (
        f"{100 * np.std([0.83, 0.82, 0.84, 0.90], ddof=1):.2f}"
    )
    assert (
        'The "± (95% CI)" is the half-width of a two-sided 95% t-interval with n - 1 degrees of freedom over those n '
        "differences, paired by seed" in text
    )


def test_lost_records_are_named_and_a_curves_figure_that_needs_them_is_kept(tmp_path):
    plan = make_plan(tmp_path)
    os.makedirs(plan.report_dir)
    curves = os.path.join(plan.report_dir, "curves.png")
    with open(curves, "wb") as f:
        f.write(b"drawn when the records were at hand")
    lost = [(r["method"], r["seed"]) for r in ROWS]
    evidence = collect.Evidence(ROWS, {}, [], lost, None)
    figures, kept = report.draw(plan.report_dir, plan, evidence)
    assert figures == ["cost.png", "delta.png", "curves.png"] and [name for name, _ in kept] == ["curves.png"]
    with open(curves, "rb") as f:
        assert f.read() == b"drawn when the records were at hand"
    text = markdown(plan, lost=lost, kept=kept)
    assert "## Records lost" in text and "nokd (seed 0), blkd (seeds 0, 1, 2, 3), wskd (seeds 0, 1, 2)" in text
    assert "`curves.png` cannot be redrawn" in text
    assert "Not known here: every run's records are lost" in text
    # The teacher's record is lost too: its row is the one teacher the rows name, without its seconds.
    assert cells(text, "| *shared teacher* (`--teacher_checkpoint`")[1:5] == ["resnet20", "1", "90.00", "90.00"]
    assert "## Records lost" not in markdown(plan)


def test_the_peer_file_is_checked_with_its_times_and_a_missing_one_is_said(tmp_path):
    peer = {
        "source": "a PyTorch peer",
        "command": "python tools/torch_peer.py",
        "torch_version": "2.9",
        "machine": "a CPU",
        "seeds": [0],
        "accuracy": {"teacher": 0.905, "nokd": 0.79, "blkd": 0.80},
        "train_seconds": {"teacher": 300.0, "blkd": 50.0},
    }
    plan = make_plan(tmp_path, peer=peer, peer_path="peer.json", reference=dict(peer["accuracy"]))
    text = markdown(plan)
    assert "## Against the peer" in text and "Peer: a PyTorch peer, read from `peer.json`" in text
    blkd = np.mean([0.83, 0.82, 0.84, 0.90])
    section = text.split("## Against the peer")[1]
    assert cells(section, "| blkd |") == [
        "blkd",
        f"{100 * blkd:.2f} (4)",
        "80.00",
        f"{100 * (blkd - 0.80):+.2f}",
        "no",
        f"{100 * (blkd - 0.80):+.2f} / +1.00",  # NOKD's mean is 0.80 here, 0.79 in the peer
        "100 / 50",
    ]
    assert cells(section, "| teacher |")[-1] == "– / 300"  # the teacher's seconds are lost with its record
    missing = markdown(make_plan(tmp_path, peer_path="results/peer.json"))
    assert "The peer was not run: there is no peer file at `results/peer.json`" in missing


def test_rows_that_learned_from_another_teacher_than_the_checkpoint_are_named(tmp_path):
    plan = make_plan(tmp_path)
    outside = {"arch": "resnet20", "accuracy": 0.95, "seconds": 10.0, "epochs": 4, "commit": "abc", "flags": {}}
    evidence = collect.Evidence(ROWS, {}, [], [], outside)
    lines = report.teacher_pairing_lines(plan, evidence)
    assert lines[-1].startswith("Not the same teacher: 7 rows learned from a teacher of 90.00%")
    assert lines[-1].endswith("blkd (seeds 0, 1, 2, 3), wskd (seeds 0, 1, 2).")
    assert report.teacher_pairing_lines(plan, collect.Evidence(ROWS, {}, [], [], {**outside, "accuracy": 0.9})) == []


def test_the_provenance_is_what_the_runs_recorded_so_a_later_rewrite_is_the_same(tmp_path):
    def payload(commit, cpu):
        recorded = dict(kdkeras_commit=commit, cpu=cpu, logical_cpus=2, python="3.11.7", tensorflow="2.21.0")
        return {"provenance": dict(recorded, keras="3.15.1")}

    payloads = [payload("aaa", "Xeon"), payload("aaa", "Xeon"), payload("bbb", "EPYC")]
    evidence = collect.Evidence(ROWS, {}, payloads, [("nokd", 0)], None)
    lines = report.provenance_lines(make_plan(tmp_path, command="python tools/compare.py"), evidence)
    assert "(runs per commit; a run whose models were trained under several commits counts under each): " + (
        "aaa: 2 runs; bbb: 1 run; records lost: 1 runs"
    ) in "\n".join(lines)
    assert (
        "- Machines the finished runs trained on (runs per machine): EPYC, 2 logical CPUs; Python 3.11.7, "
        "TensorFlow 2.21.0, Keras 3.15.1: 1 run; Xeon, 2 logical CPUs; Python 3.11.7, TensorFlow 2.21.0, "
        "Keras 3.15.1: 2 runs; records lost: 1 runs" in lines
    )
    assert not any("invocation" in line for line in lines)  # no commit of the writer's own


def test_a_teacher_cache_fill_is_counted_apart_from_the_run_that_did_it(tmp_path):
    """The first run of a seed fills the cache every cached run of that seed reads: its *train s* leaves the fill
    out (else BLKD would look twice DKD's cost), and the fills are listed with the run that did each."""
    filled = dict(row("blkd", 0, 0.83, seconds=1500.0), cache_fill_seconds=850.0, records_lost=False)
    reader = dict(row("wskd", 0, 0.78, seconds=700.0), cache_fill_seconds=0.0, records_lost=False)
    text = markdown(make_plan(tmp_path), rows=[filled, reader])
    assert cells(text, "| blkd |")[8:10] == ["650", "650"] and cells(text, "| wskd |")[8:10] == ["700", "700"]
    assert "without the teacher-cache fills (below)" in text
    assert "Seconds, in the run that did each: seed 0: 850 s (blkd)." in text
    assert "a fill their run did included" not in text
    kept = markdown(make_plan(tmp_path), rows=[row("blkd", 0, 0.83, seconds=1500.0)])  # from an old results.csv
    assert cells(kept, "| blkd |")[8] == "1500" and "without the teacher-cache fills" not in kept
    assert "The rows whose records are lost keep the training seconds results.csv held, a fill their run did" in kept


def test_further_pairs_are_differences_seed_by_seed_with_their_interval(tmp_path):
    text = markdown(make_plan(tmp_path, differences=[("wskd", "blkd"), ("nokd", "wskd")]))
    assert "## Further paired differences (`--differences`)" in text
    per_seed, mean = cells(text, "| wskd − blkd |")[1:]
    differences = [0.78 - 0.83, 0.80 - 0.82, 0.79 - 0.84]
    assert per_seed == ", ".join(f"{100 * d:+.2f} (seed {s})" for s, d in enumerate(differences))
    half = 100 * T_975[2] * np.std(differences, ddof=1) / math.sqrt(3)
    assert mean == f"{100 * np.mean(differences):+.2f} ± {half:.2f} (n=3)"
    assert cells(text, "| nokd − wskd |")[1:] == [f"{100 * (0.80 - 0.78):+.2f} (seed 0)", "+2.00 (1 seed)"]
    assert "Further paired differences" not in markdown(make_plan(tmp_path))
