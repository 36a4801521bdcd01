"""The study's figures (matplotlib, written atomically): cost, differences to the baseline, training curves."""

import statistics

from kdkeras import io
from kdkeras.study.collect import cost_seconds
from kdkeras.study.statistics import mean_std, paired_difference

__all__ = ["CURVES", "plot_cost", "plot_curves", "plot_delta", "step2_lines"]

# The panels of curves.png: a metric of the final models' histories and its title.
CURVES = {
    "accuracy": "training accuracy % (augmented views, true labels; mean over seeds)",
    "distillation_loss": "KD term to the model's teacher (TAKD: the assistant), times T^2",
    "previous_distillation_loss": "GSKD: KL term to the previous stage, times T^2",
    "step2_examples": "WSKD: step-2 examples per epoch (the teacher's errors)",
}


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(path, plt, figure):
    io.replace_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110))
    plt.close(figure)


def plot_cost(path, plan, rows):
    """Student accuracy against training seconds and FLOPs (the shared teacher's included), mean ± std."""
    plt = _figure()
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for axis, (key, label, log) in zip(
        axes,
        [
            (cost_seconds, "training seconds (with shared teacher; teacher-cache fills apart)", False),
            (lambda r: r["total_train_flops"], "training FLOPs (with shared teacher)", True),
        ],
    ):
        for name in plan.all_methods:
            group = [r for r in rows if r["method"] == name]
            if not group:
                continue
            x, x_std = mean_std(key(r) for r in group)
            y, y_std = mean_std(r["student_accuracy"] for r in group)
            axis.errorbar(x, 100 * y, xerr=x_std, yerr=100 * y_std, fmt="o", capsize=3)
            axis.annotate(name, (x, 100 * y), textcoords="offset points", xytext=(5, 4), fontsize=9)
        axis.set_xlabel(label)
        axis.set_ylabel("student test accuracy %")
        axis.set_xscale("log" if log else "linear")
        axis.grid(True, alpha=0.3)
    figure.suptitle(f"Student accuracy vs training cost ({plan.recipe.dataset}; error bars: std over seeds)")
    figure.tight_layout()
    _save(path, plt, figure)


def plot_delta(path, plan, rows):
    """Each method's difference to the baseline (paired by seed) with its 95% interval; False if nothing to draw."""
    points = []
    for name in plan.all_methods:
        against = plan.compared_with(name)
        if against is None:
            continue
        delta, half, n = paired_difference(rows, name, against)
        if delta is not None:
            points.append((name, 100 * delta, 0.0 if half is None else 100 * half, n))
    if not points:
        return False
    plt = _figure()
    figure, axis = plt.subplots(figsize=(7, 0.5 * len(points) + 1.5))
    for index, (name, delta, half, n) in enumerate(points):
        axis.errorbar(delta, index, xerr=half, fmt="o", capsize=4, color="C0" if n > 1 else "C7")
    axis.set_yticks(range(len(points)), [f"{name} (n={n})" for name, _, _, n in points])
    axis.axvline(0.0, color="black", linewidth=0.8)
    axis.set_xlabel(f"accuracy − {plan.baseline.upper()}'s, percentage points (95% CI over seeds; grey: one seed)")
    axis.grid(True, axis="x", alpha=0.3)
    figure.tight_layout()
    _save(path, plt, figure)
    return True


def step2_lines(methods, curves):
    """WSKD's step-2 example counts as `[(methods, seed, values)]`, one line per distinct series.

    The count is the teacher's errors on the views a seed sees, so variants that change only the update (the
    `batch` reduction, the `swap` correction) log the same series on the same seed; drawn separately, the later
    line would hide the earlier. A variant that logged none (no step 2) is left out.
    """
    lines = {}
    for name in methods:
        for seed, values in sorted(curves.get(name, {}).get("step2_examples", {}).items()):
            if any(values):
                lines.setdefault((seed, tuple(values)), []).append(name)
    return [(names, seed, list(values)) for (seed, values), names in lines.items()]


def _panels(curves, step2):
    """`{panel: metrics drawn as means}` of the panels with something to draw."""
    panels = {
        title: metrics
        for title, metrics in {
            "accuracy": ["accuracy"],
            "distillation_loss": ["distillation_loss", "previous_distillation_loss"],
        }.items()
        if any(metric in by_metric for by_metric in curves.values() for metric in metrics)
    }
    if step2:
        panels["step2_examples"] = []  # drawn from `step2`, one line per distinct series, not as a mean
    return panels


def _draw_step2(axis, plan, step2, colors):
    seeds = sorted({seed for _, seed, _ in step2})
    for names, seed, values in step2:
        axis.plot(
            range(1, len(values) + 1),
            values,
            label=f"{', '.join(names)} seed {seed}",
            color=colors[plan.all_methods.index(names[0]) % len(colors)],
            linestyle=("-", "--", ":", "-.")[seeds.index(seed) % 4],
        )


def _draw_means(axis, plan, curves, metrics, colors):
    for index, name in enumerate(plan.all_methods):
        for metric in metrics:
            by_seed = curves.get(name, {}).get(metric)
            if not by_seed:
                continue
            previous = metric.startswith("previous")
            label = name + (" to previous stage" if previous else "")
            epochs = min(len(values) for values in by_seed.values())
            scale = 100.0 if metric == "accuracy" else 1.0
            mean = [scale * statistics.fmean(values[e] for values in by_seed.values()) for e in range(epochs)]
            axis.plot(
                range(1, epochs + 1),
                mean,
                label=f"{label} (n={len(by_seed)})",
                color=colors[index % len(colors)],
                linestyle="--" if previous else "-",
            )


def plot_curves(path, plan, curves):
    """Training accuracy, the KD terms and WSKD's step-2 examples per epoch; False if nothing to draw.

    Accuracy and losses are means over seeds. GSKD's term to the previous stage shares the KD panel (dashed) so
    the two can be compared; WSKD's step-2 examples are drawn per seed, since how often the teacher errs depends
    on the seed's crops (`step2_lines`).
    """
    step2 = step2_lines(plan.all_methods, curves)
    panels = _panels(curves, step2)
    if not panels:
        return False
    plt = _figure()
    colors = plt.get_cmap("tab10" if len(plan.all_methods) <= 10 else "tab20").colors
    figure, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), squeeze=False)
    for axis, (title, metrics) in zip(axes[0], panels.items()):
        if title == "step2_examples":
            _draw_step2(axis, plan, step2, colors)
        _draw_means(axis, plan, curves, metrics, colors)
        axis.set_title(CURVES[title], fontsize=10)
        axis.set_xlabel("epoch")
        axis.xaxis.get_major_locator().set_params(integer=True)
        if title.endswith("loss"):
            axis.set_yscale("log")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(f"Training curves of each method's final model ({plan.recipe.dataset})")
    figure.tight_layout()
    _save(path, plt, figure)
    return True
