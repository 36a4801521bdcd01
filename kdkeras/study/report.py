"""The study's report: results.csv, results.md and the figures, written from its `Evidence`.

`write(plan)` is called after every run and by `--report_only`; each file is replaced atomically.
"""

import collections
import os
import statistics

from kdkeras import accounting, io, provenance
from kdkeras.study import plots
from kdkeras.study.collect import (
    CSV_COLUMNS,
    DIAGNOSTICS,
    blkd_models_by_size,
    collect,
    cost_seconds,
    label_models_by_size,
    step_seconds,
    training_curves,
)
from kdkeras.study.statistics import mean_std, paired, paired_difference

__all__ = ["markdown", "same_size_lines", "shared_crops_note", "write", "write_csv"]

COLUMNS = (
    "| method | student | n | accuracy % | per seed | Δ vs {baseline} (95% CI) | teacher % | models trained "
    "| train s | train s with shared teacher | images fwd / bwd | int8 KiB | int8 acc % | TFLM arena KiB "
    "| TFLM flash KiB |"
)


def _pct(value, digits=2):
    return "–" if value is None else f"{100 * value:.{digits}f}"


def _mean_text(values):
    mean, std = mean_std(values)
    return f"{_pct(mean)} ± {_pct(std)}" if len(values) > 1 else _pct(mean)


def _si(value):
    if value in (None, ""):
        return "–"
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def _runs_text(pairs):
    """`nokd (seeds 0, 1), blkd (seed 0)` of `(name, seed)` pairs."""
    seeds = collections.defaultdict(list)
    for name, seed in pairs:
        seeds[name].append(seed)
    return ", ".join(f"{name} (seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))})" for name, s in seeds.items())


def write_csv(path, rows):
    io.write_csv_atomic(path, CSV_COLUMNS, rows, extrasaction="ignore")


def shared_crops_note(plan, outside):
    """A sentence when some students draw the very crops the shared teacher trained on, else "".

    A run's crop and flip of example `i` in epoch `e` is `view_of(seed, e, i)`: a student with the teacher's
    `--seed` sees, epoch by epoch, the teacher's own training views, on which it errs less than on fresh ones.
    """
    flags = (outside or {}).get("flags", {})
    seed = flags.get("seed")
    if not (plan.recipe.augment and flags.get("augment") and seed in plan.all_seeds):
        return ""
    return (
        f" It trained with `--seed={seed}` and `--augment`, so the seed-{seed} students see its own training crops "
        "epoch by epoch (on which it errs less than on fresh crops); the other seeds do not."
    )


def header_lines(plan, rows):
    lines = [
        "# KD methods compared on one recipe",
        "",
        f"Dataset `{plan.recipe.dataset}`; {len(rows)} of {len(plan.pairs())} method runs finished. Accuracy is top-1 "
        "on the test split in %, mean ± sample std over the seeds finished (n), then the value of each seed.",
        "",
    ]
    if plan.recipe.dataset == "mnist_sample":
        lines += [
            "mnist_sample is the official MNIST *test* set (10,000 digits) split deterministically into 8,000 "
            "training and 2,000 test digits, stratified by class; numbers on it are not MNIST benchmark numbers.",
            "",
        ]
    return lines


def _delta_text(plan, rows, name):
    against = plan.compared_with(name)
    delta, half, n = paired_difference(rows, name, against) if against else (None, None, 0)
    versus = "" if against == plan.baseline else f" vs {against}"
    return _paired_text(delta, half, n) + (versus if delta is not None else "")


def _paired_text(delta, half, n):
    """A paired difference in points: `+1.02 ± 0.41 (n=3)`, `+0.58 (1 seed)`, or `–` without a shared seed."""
    if delta is None:
        return "–"
    if half is None:
        return f"{100 * delta:+.2f} (1 seed)"
    return f"{100 * delta:+.2f} ± {100 * half:.2f} (n={n})"


def _method_line(plan, rows, name):
    group = [r for r in rows if r["method"] == name]
    if not group:
        return f"| {name} | (not run yet) |" + " |" * 13
    teacher_mean, _ = mean_std(r["teacher_accuracy"] for r in group)
    size, _ = mean_std(r["int8_size_bytes"] for r in group)
    int8_mean, _ = mean_std(r["int8_accuracy"] for r in group)
    arena, _ = mean_std(r["int8_arena_bytes"] for r in group)
    flash, _ = mean_std(r["int8_flash_bytes"] for r in group)
    cells = [
        name,
        ", ".join(sorted({r["student_arch"] for r in group})),
        str(len(group)),
        _mean_text([r["student_accuracy"] for r in group]),
        ", ".join(_pct(float(r["student_accuracy"])) for r in sorted(group, key=lambda r: r["seed"])),
        _delta_text(plan, rows, name),
        _pct(teacher_mean),
        f"{mean_std(r['models_trained'] for r in group)[0]:.0f}"
        + (" + shared teacher" if plan.uses_shared_teacher(name) else ""),
        f"{mean_std(step_seconds(r) for r in group)[0]:.0f}",
        f"{mean_std(cost_seconds(r) for r in group)[0]:.0f}",
        f"{_si(mean_std(r['images_forward'] for r in group)[0])} / "
        f"{_si(mean_std(r['images_backward'] for r in group)[0])}",
        "–" if size is None else f"{size / 1024:.1f}",
        _pct(int8_mean),
        "–" if arena is None else f"{arena / 1024:.1f}",
        "–" if flash is None else f"{flash / 1024:.1f}",
    ]
    return "| " + " | ".join(cells) + " |"


def table_lines(plan, evidence):
    """The main table: one line per method, then the shared teacher."""
    rows, teachers, outside = evidence.rows, evidence.teachers, evidence.outside
    lines = [COLUMNS.format(baseline=plan.baseline), "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [_method_line(plan, rows, name) for name in plan.all_methods]
    if teachers:
        accuracies = [t["accuracy"] for t in teachers.values()]
        lines.append(
            f"| *shared teacher* | {next(iter(teachers.values()))['arch']} | {len(accuracies)} | "
            f"{_mean_text(accuracies)} | "
            f"{', '.join(_pct(a) for a in accuracies)} | | | 1 per seed | "
            f"{mean_std(t['seconds'] for t in teachers.values())[0]:.0f} | | | | | | |"
        )
    if outside:
        lost = outside.get("record_lost")
        lines.append(
            "| *shared teacher* (`--teacher_checkpoint`, trained outside the study"
            + ("; its record lost, as the rows that learned from it name it" if lost else "")
            + f") | {outside['arch']} | 1 | "
            f"{_pct(outside['accuracy'])} | {_pct(outside['accuracy'])} | | | 1, once for every seed | "
            f"{'–' if lost else format(outside['seconds'], '.0f')} | | | | | | |"
        )
    return lines


def lost_lines(plan, evidence, plots_kept):
    """What a reader cannot check: the rows kept from the committed results.csv, their records lost."""
    if not evidence.lost:
        return []
    lines = [
        "",
        "## Records lost",
        "",
        f"The records of {len(evidence.lost)} of these {len(evidence.rows)} runs are lost: neither the output "
        f"folder they trained in (`{plan.output_dir}`) nor the copy kept beside this report "
        f"(`{os.path.join(plan.report_dir, 'records')}`) holds them: {_runs_text(evidence.lost)}. Their rows are "
        "the ones results.csv held, unchanged, and the table, `cost.png` and `delta.png` are drawn from them. What "
        "only their records held is not in this report for them: the comparisons at the final model's size, the "
        "mechanisms' logs per epoch, the study's whole work and the commits that trained them. Nor can the "
        "recipe below vouch for them: it is the one this command sets today, a setting added since they trained "
        "at today's default, which need not be what trained them.",
    ]
    if evidence.teachers and any(t["payload"] is None for t in evidence.teachers.values()):
        lines += [
            "",
            "The shared teacher's records are lost for seeds "
            + ", ".join(str(s) for s, t in evidence.teachers.items() if t["payload"] is None)
            + "; its row is taken from the methods' rows that learned from it.",
        ]
    for name, why in plots_kept:
        lines += ["", f"`{name}` cannot be redrawn: {why}"]
    return lines


def teacher_pairing_lines(plan, evidence):
    """Rows that learned from a teacher other than today's `--teacher_checkpoint` (their teacher's accuracy
    differs), which new rows cannot be paired with."""
    outside = evidence.outside
    if not outside:
        return []
    other = [
        r
        for r in evidence.rows
        if r["uses_shared_teacher"] is True
        and r["teacher_accuracy"] not in ("", None)
        and abs(float(r["teacher_accuracy"]) - outside["accuracy"]) > 5e-5
    ]
    if not other:
        return []
    accuracies = ", ".join(sorted({_pct(float(r["teacher_accuracy"])) for r in other}))
    return [
        "",
        f"Not the same teacher: {len(other)} rows learned from a teacher of {accuracies}%, and "
        f"`--teacher_checkpoint` ({_pct(outside['accuracy'])}%) is another model; rows trained with it do not "
        f"pair with those: {_runs_text([(r['method'], r['seed']) for r in other])}.",
    ]


def _accuracy_of(name, rows, teachers, outside):
    """`(mean over seeds, n)` of a method's student accuracy, or of the shared teacher's."""
    if name == "teacher":
        found = [t["accuracy"] for t in teachers.values()] or ([outside["accuracy"]] if outside else [])
    else:
        found = [float(r["student_accuracy"]) for r in rows if r["method"] == name]
    return (statistics.fmean(found), len(found)) if found else (None, 0)


def _seconds_of(name, rows, teachers, outside):
    if name == "teacher":
        found = [t["seconds"] for t in teachers.values()] or ([outside["seconds"]] if outside else [])
        found = [s for s in found if s is not None]
    else:
        found = [float(r["train_seconds"]) for r in rows if r["method"] == name]
    return statistics.fmean(found) if found else None


def _peer_intro(plan):
    peer = plan.peer
    if plan.peer_path and peer is None:
        return None
    if peer is None:
        return f"Reference: {plan.reference_source}. " if plan.reference_source else ""
    return (
        f"Peer: {peer.get('source', plan.peer_path)}, read from `{plan.peer_path}` (command: "
        f"`{peer.get('command', 'not recorded')}`; PyTorch {peer.get('torch_version', 'version not recorded')} on "
        f"{peer.get('machine', 'a machine not recorded')}; seeds {', '.join(map(str, peer.get('seeds', [])))}). "
    )


def reference_lines(plan, evidence):
    """results.md's check of the means over seeds against `--peer`'s file or `--reference` (nothing without)."""
    intro = _peer_intro(plan)
    if intro is None:
        return [
            "",
            "## Against the peer",
            "",
            f"The peer was not run: there is no peer file at `{plan.peer_path}` (`tools/torch_peer.py` writes it).",
        ]
    if not plan.reference:
        return []
    rows, teachers, outside = evidence.rows, evidence.teachers, evidence.outside
    tolerance = plan.reference_tolerance
    labels = plan.labels_only
    gain_base = labels if labels in plan.reference else None
    times = (plan.peer or {}).get("train_seconds")
    lines = [
        "",
        "## Against the peer" if plan.peer else "## Against the reference",
        "",
        intro
        + f"A mean over seeds agrees when it is within {tolerance:g} points of the reference"
        + (
            f"; Δ vs {labels} is each method's mean minus {labels.upper()}'s mean, here and in the reference."
            if gain_base
            else "."
        ),
        "",
        "| model | kdkeras % (n seeds) | reference % | difference | agrees |"
        + (f" Δ vs {labels}, kdkeras / reference |" if gain_base else "")
        + (" train s, kdkeras / peer |" if times else ""),
        "|---|---|---|---|---|" + ("---|" if gain_base else "") + ("---|" if times else ""),
    ]
    base, _ = _accuracy_of(gain_base, rows, teachers, outside) if gain_base else (None, 0)
    for name, expected in plan.reference.items():
        mean, n = _accuracy_of(name, rows, teachers, outside)
        cells = [name]
        if mean is None:
            cells += ["(not run yet)", _pct(expected), "", ""]
        else:
            difference = 100 * (mean - expected)
            cells += [
                f"{_pct(mean)} ({n})",
                _pct(expected),
                f"{difference:+.2f}",
                "yes" if abs(difference) <= tolerance + 1e-9 else "no",
            ]
        if gain_base:
            if name in ("teacher", gain_base) or mean is None or base is None:
                cells.append("")
            else:
                cells.append(f"{100 * (mean - base):+.2f} / {100 * (expected - plan.reference[gain_base]):+.2f}")
        if times:
            mine, theirs = _seconds_of(name, rows, teachers, outside), times.get(name)
            cells.append(f"{'–' if mine is None else f'{mine:.0f}'} / {'–' if theirs is None else f'{theirs:.0f}'}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def same_size_lines(plan, rows, teachers=None, outside=None):
    """results.md's comparisons of each method whose final model is larger than BLKD's student, at its size.

    With BLKD's loss at that size (e.g. TAKD's assistant), and with the same network trained on labels alone
    (the shared teacher, for Re-KD's and grown GSKD's final model), each paired by seed.
    """
    blkd = _size_rows(
        plan, rows, blkd_models_by_size(rows), "no model of this size trained with BLKD's loss in the study"
    )
    no_labels = "no model of this size trained on labels alone for as many epochs"
    labels = _size_rows(plan, rows, label_models_by_size(rows, plan.recipe.epochs, teachers, outside), no_labels)
    lines = []
    if blkd:
        lines += [
            "",
            "## Against BLKD at the final model's size",
            "",
            "A method whose final model is larger than BLKD's student is compared here with a model of its own "
            "size that BLKD's loss trained from the same teacher, seed and recipe in another run of the study "
            "(e.g. TAKD's assistant), paired by seed.",
            "",
            "| method | final model | BLKD-trained model of that size % (where) | method % (same seeds) | Δ (95% CI) |",
            "|---|---|---|---|---|",
            *blkd,
        ]
    if any(no_labels not in line for line in labels):
        lines += [
            "",
            "## Against the same network trained on labels alone",
            "",
            "The same final models against their network trained on labels alone on the same seed, for the "
            "methods' epochs or more (the shared teacher, or a model another run trained): does distillation "
            "give the larger model anything its labels do not? The label-trained model's epochs are given: the "
            "methods train for `--epochs`, a teacher for `--teacher_epochs`.",
            "",
            "| method | final model | trained on labels % (where, epochs) | method % (same seeds) | Δ (95% CI) |",
            "|---|---|---|---|---|",
            *labels,
        ]
    return lines


def _size_rows(plan, rows, by_size, missing):
    """Table rows comparing each larger final model with `by_size[(seed, arch)]`, paired by seed."""
    blkd_arch = {r["student_arch"] for r in rows if r["method"] == plan.baseline}
    lines = []
    for name in plan.all_methods:
        group = [r for r in rows if r["method"] == name]
        archs = {r["student_arch"] for r in group}
        if not group or not blkd_arch or archs <= blkd_arch:
            continue
        for arch in sorted(archs):
            mine = {r["seed"]: float(r["student_accuracy"]) for r in group if r["student_arch"] == arch}
            theirs = {seed: by_size[(seed, arch)] for seed in mine if (seed, arch) in by_size}
            delta, half, n = paired(mine, {seed: accuracy for seed, (accuracy, _) in theirs.items()})
            if delta is None:
                cells = [missing, "", "–"]
            else:
                wheres = "; ".join(sorted({where for _, where in theirs.values()}))
                cells = [
                    f"{_mean_text([accuracy for accuracy, _ in theirs.values()])} ({wheres})",
                    _mean_text([mine[seed] for seed in theirs]),
                    f"{100 * delta:+.2f}" + (f" ± {100 * half:.2f} (n={n})" if half is not None else " (1 seed)"),
                ]
            lines.append(f"| {name} | {arch} | " + " | ".join(cells) + " |")
    return lines


def difference_lines(plan, rows):
    """results.md's `--differences`: each difference seed by seed, then its mean and 95% t-interval."""
    if not plan.differences:
        return []
    lines = [
        "",
        "## Further paired differences (`--differences`)",
        "",
        "| difference | per seed | mean (95% CI) |",
        "|---|---|---|",
    ]
    for a, b in plan.differences:
        mine = {r["seed"]: float(r["student_accuracy"]) for r in rows if r["method"] == a}
        theirs = {r["seed"]: float(r["student_accuracy"]) for r in rows if r["method"] == b}
        seeds = [s for s in sorted(mine) if s in theirs]
        per_seed = ", ".join(f"{100 * (mine[s] - theirs[s]):+.2f} (seed {s})" for s in seeds) or "no seed both have"
        lines.append(f"| {a} − {b} | {per_seed} | {_paired_text(*paired(mine, theirs))} |")
    return lines


def diagnostics_lines(rows):
    diagnosed = [r for r in rows if r["diagnostics"]]
    if not diagnosed:
        return []
    lines = [
        "",
        "## What the methods' own mechanisms logged (first epoch → last epoch)",
        "",
        "| method | seed | model | " + " | ".join(DIAGNOSTICS) + " |",
        "|---|---|---|" + "---|" * len(DIAGNOSTICS),
    ]
    for r in diagnosed:
        for role, found in r["diagnostics"].items():
            cells = [f"{found[m][0]:.4g} → {found[m][1]:.4g}" if m in found else "" for m in DIAGNOSTICS]
            lines.append(f"| {r['method']} | {r['seed']} | {role} | " + " | ".join(cells) + " |")
    return lines + ["", "Columns: " + "; ".join(f"`{m}`: {text}" for m, text in DIAGNOSTICS.items()) + "."]


def work_lines(plan, evidence, study):
    if not evidence.payloads and evidence.lost:
        return [
            "",
            "## The whole study's work",
            "",
            "Not known here: every run's records are lost (their own work is in the table).",
        ]
    counted = (
        f" Counted from the records at hand: the {len(evidence.lost)} runs whose records are lost are not in it "
        "(their own work is in the table)."
        if evidence.lost
        else ""
    )
    lines = [
        "",
        "## The whole study's work",
        "",
        f"Each model trained once (models shared between methods through `{os.path.join(plan.output_dir, 'models')}` "
        "and each teacher-cache fill counted once): "
        f"{study.models_trained} models, {study.train_seconds:.0f} training seconds, {_si(study.flops)} "
        "training FLOPs." + counted,
        "",
        "| network | images forward | images backward | FLOPs/image |",
        "|---|---|---|---|",
    ]
    for network, counts in sorted(study.networks.items()):
        lines.append(f"| {network} | {counts['forward']:,} | {counts['backward']:,} | {_si(counts['flops'])} |")
    return lines


def reading_lines(plan, evidence, figures):
    outside = evidence.outside
    baseline = plan.baseline
    if plan.recipe.teacher_checkpoint:
        teacher = f"is `--teacher_checkpoint={plan.recipe.teacher_checkpoint}`, trained outside the study" + (
            f" ({outside['epochs']} epochs, {outside['seconds']:.0f} s, kdkeras {outside['commit']}); "
            "its seconds are not in the methods' columns." + shared_crops_note(plan, outside)
            if outside and not outside.get("record_lost")
            else "; its seconds are not in the methods' columns."
        )
    else:
        teacher = "is trained once per seed (its own row)."
    fills = cache_fill_lines(evidence.rows)
    return [
        "",
        "How to read it:",
        "",
        "- accuracy %: the mean over the seeds, ± their sample standard deviation (n - 1 in the denominator).",
        f"- Δ vs {baseline}: the method's accuracy minus {baseline.upper()}'s on the same seed, averaged over the n "
        f'seeds both have. The "± (95% CI)" is the half-width of a two-sided 95% t-interval with n - 1 degrees '
        "of freedom over those n differences, paired by seed (with one seed there is none); the same holds for "
        "every Δ below.",
        "- *train s* counts every model a method needs as if trained for it (a model reused from another "
        "method's run included)"
        + (", without the teacher-cache fills (below)" if fills else "")
        + "; *with shared teacher* adds the shared teacher's training where it is used. The shared teacher "
        + teacher,
        *fills,
        *lost_seconds_lines(evidence.rows),
        "- Images (`kdkeras.accounting`): a trained model passes its training images forward and backward "
        "(WSKD adds its step-2 examples); a frozen model passes the images it ran on, or once per teacher-cache fill.",
        "- TFLM arena: the RAM TensorFlow Lite Micro's allocator takes for the int8 file's tensors (measured on "
        "this host with 64-bit pointers); TFLM flash: the file's bytes, which stay in flash.",
        "- int8: full-integer TFLite export of the final student, accuracy on the whole test split in LiteRT"
        + (" (not measured here: `--edge=off`)." if plan.edge == "off" else "."),
        "",
        "Plots: " + (", ".join(f"`{p}`" for p in figures) if figures else "none yet."),
    ]


def cache_fill_lines(rows):
    """The teacher-cache fills' seconds, each timed in the run that did it; kept apart from *train s*."""
    fills = sorted(
        (r["seed"], r["method"], r["cache_fill_seconds"])
        for r in rows
        if isinstance(r.get("cache_fill_seconds"), (int, float)) and r["cache_fill_seconds"] > 0
    )
    if not fills:
        return []
    return [
        "- Teacher-cache fills: the frozen models' logits for every view of the recipe, computed once (per seed, "
        "by the first run that needed them) and read by every run of that seed that learns from them; each "
        "such row's images count the fill. Seconds, in the run that did each: "
        + "; ".join(f"seed {seed}: {seconds:.0f} s ({method})" for seed, method, seconds in fills)
        + "."
    ]


def lost_seconds_lines(rows):
    """Rows kept from results.csv: their seconds as recorded, a fill included (no record says how long)."""
    if not any(r.get("records_lost") and r["uses_shared_teacher"] is True for r in rows):
        return []
    return [
        "- The rows whose records are lost keep the training seconds results.csv held, a fill their run did included."
    ]


def recipe_lines(plan):
    lines = [
        "",
        "## Recipe (the same for every method)",
        "",
        "```",
        f"--methods={','.join(plan.methods)}",
        f"--seeds={','.join(map(str, plan.seeds))}",
    ]
    if plan.extra_methods:
        lines += [
            f"--extra_methods={','.join(plan.extra_methods)}",
            f"--extra_seeds={','.join(map(str, plan.extra_seeds))}",
        ]
    for name, (method, changes) in plan.variants.items():
        lines.append(f"--variant={name}:{method}:" + ";".join(f"{k}={v}" for k, v in changes.items()))
    lines += [f"--{flag}={value}" for flag, value in plan.study_settings.items() if value]
    skip = {"method", "seed", "output_dir", "export", "verbose", "model_store", "teacher_cache_dir"}
    for key, value in plan.recipe.as_dict().items():
        if key not in skip and value is not None:
            lines.append(f"--{key}={','.join(value) if isinstance(value, list) else value}")
    return lines + ["```", ""]


def markdown(plan, evidence, study, figures, kept=()):
    """results.md without its provenance: the table, the checks, the paired comparisons, the cost, the recipe.

    `figures` are the plot files written or kept; `kept` `(file, why)` of those kept as drawn before.
    """
    rows = evidence.rows
    lines = header_lines(plan, rows) + table_lines(plan, evidence)
    lines += lost_lines(plan, evidence, kept)
    lines += teacher_pairing_lines(plan, evidence)
    lines += reference_lines(plan, evidence)
    lines += same_size_lines(plan, rows, evidence.teachers, evidence.outside)
    lines += difference_lines(plan, rows)
    lines += diagnostics_lines(rows)
    lines += work_lines(plan, evidence, study)
    lines += reading_lines(plan, evidence, figures)
    lines += recipe_lines(plan)
    return "\n".join(lines)


def provenance_lines(plan, evidence):
    """How to reproduce the table: the command, the commits and the machines the runs were trained with.

    Only what the runs recorded, so a report rewritten later (`--report_only`, another machine, another commit)
    is the same file, whoever writes it."""
    commits = _per_run(
        (
            commit
            for p in evidence.payloads
            for commit in provenance.split_commits(p.get("provenance", {}).get("kdkeras_commit", "not recorded"))
        ),
        evidence.lost,
    )
    machines = _per_run(
        (_machine(p["provenance"]) for p in evidence.payloads if p.get("provenance", {}).get("cpu")), evidence.lost
    )
    return [
        "## Provenance",
        "",
        f"- Command: `{plan.command}`",
        f"- kdkeras commits the finished runs' models were trained with (runs per commit; a run whose models "
        f"were trained under several commits counts under each): {commits or 'none yet'}",
        f"- Machines the finished runs trained on (runs per machine): {machines or 'none yet'}",
        "- Training seconds are wall-clock on those machines, which other work may have shared; compare seconds "
        "only within one machine and sitting, and FLOPs and images across tables.",
        "",
    ]


def _per_run(values, lost):
    """`a: 2 runs; b: 1 run` of the runs' recorded `values`, then how many runs' records are lost."""
    counts = collections.Counter(values)
    parts = [f"{value}: {n} run{'s' if n > 1 else ''}" for value, n in sorted(counts.items())]
    if lost:
        parts.append(f"records lost: {len(lost)} runs")
    return "; ".join(parts)


def _machine(recorded):
    return (
        f"{recorded['cpu']}, {recorded.get('logical_cpus', '?')} logical CPUs; Python {recorded.get('python', '?')}, "
        f"TensorFlow {recorded.get('tensorflow', '?')}, Keras {recorded.get('keras', '?')}"
    )


def draw(out, plan, evidence):
    """The figures: `(written or kept files, [(file, why it was kept as drawn before)])`."""
    rows = evidence.rows
    if not rows:
        return [], []
    figures, kept = [], []
    plots.plot_cost(os.path.join(out, "cost.png"), plan, rows)
    figures.append("cost.png")
    if plots.plot_delta(os.path.join(out, "delta.png"), plan, rows):
        figures.append("delta.png")
    curves_path = os.path.join(out, "curves.png")
    if evidence.lost and os.path.exists(curves_path):
        figures.append("curves.png")
        kept.append(
            (
                "curves.png",
                "it is drawn from the runs' per-epoch histories, lost for the runs above, so the file is kept as "
                "it was drawn when they were at hand (runs finished since are not in it).",
            )
        )
    elif plots.plot_curves(curves_path, plan, training_curves(rows)):
        figures.append("curves.png")
    return figures, kept


def write(plan):
    """Writes results.csv, the figures and results.md into the plan's report folder; returns results.md's path."""
    evidence = collect(plan)
    out = plan.report_dir
    os.makedirs(out, exist_ok=True)
    write_csv(os.path.join(out, "results.csv"), evidence.rows)
    figures, kept = draw(out, plan, evidence)
    text = markdown(plan, evidence, accounting.study_work(evidence.payloads), figures, kept) + "\n".join(
        provenance_lines(plan, evidence)
    )

    def write_text(temporary):
        with open(temporary, "w") as f:
            f.write(text)

    path = os.path.join(out, "results.md")
    io.replace_atomic(path, write_text)
    return path
