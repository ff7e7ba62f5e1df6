"""Render a cross-validation report as Markdown plus PNG figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from model_store.labels import TASKS


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return "nan" if np.isnan(x) else f"{x:.3f}"
    return str(x)


def _ci(ci: Any) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "-"


def render_figures(report: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    names = []
    for task in TASKS:
        cm = np.asarray(report["model"][task]["confusion_matrix"], dtype=float)
        labels = report["model"][task]["labels"]
        rows = cm.sum(axis=1, keepdims=True)
        norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
        fig, ax = plt.subplots(figsize=(max(5.0, 1.5 + 0.6 * len(labels)), max(4.0, 1.2 + 0.55 * len(labels))))
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
        ax.set_title(f"{task}: {report['scheme']}, pooled test folds", fontsize=10)
        fig.tight_layout()
        name = f"confusion_{task}.png"
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        names.append(name)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for k, fold in enumerate(report["folds"]):
        ep = [h["epoch"] for h in fold["history"]]
        colour = f"C{k}"
        axes[0].plot(ep, [h["train_loss"] for h in fold["history"]], "--", color=colour, alpha=0.6)
        axes[0].plot(ep, [h["val_loss"] for h in fold["history"]], color=colour, label=f"fold {fold['fold']}")
        axes[1].plot(ep, [h["val_magnitude_bal_acc"] for h in fold["history"]], color=colour, label=f"fold {fold['fold']}")
    axes[0].set(xlabel="epoch", ylabel="loss (dashed: train)", title="learning curves")
    axes[1].set(xlabel="epoch", ylabel="validation balanced accuracy (magnitude)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "learning_curves.png", dpi=100)
    plt.close(fig)
    names.append("learning_curves.png")
    return names


def render_markdown(report: dict[str, Any], figures: list[str]) -> str:
    lines = [
        f"# Cross-validation report ({report['scheme']})",
        "",
        f"{report['samples']} windows; {report['folds_run']} of {report['folds_total']} folds run "
        f"(grouped by `{report['group_key']}`); {report['test_windows']} test windows pooled over the folds run. "
        "Early stopping and model selection used a validation split of whole groups from each fold's training side.",
        "",
        "## Model vs baselines (pooled test folds)",
        "",
        "| task | predictor | accuracy | balanced acc. | 95% CI (events) | macro-F1 | MCC | event-window acc. |",
        "|---|---|---|---|---|---|---|---|",
    ]
    predictors = [("model", report["model"])] + list(report["baselines"].items())
    for task in TASKS:
        for name, rep in predictors:
            r = rep[task]
            lines.append(
                f"| {task} | {name} | {_fmt(r['accuracy'])} | {_fmt(r['balanced_accuracy'])} | "
                f"{_ci(r['ci95']['balanced_accuracy'])} | {_fmt(r['macro_f1'])} | {_fmt(r['mcc'])} | "
                f"{_fmt(r['event_window_accuracy'])} |"
            )
    ang = report["model"]["azimuth"]["angular"]
    lines += [
        "",
        f"Chance balanced accuracy: magnitude {_fmt(report['model']['magnitude']['chance_balanced_accuracy'])}, "
        f"azimuth {_fmt(report['model']['azimuth']['chance_balanced_accuracy'])}. The shuffled-label control "
        f"(same recipe, training labels permuted; {report['baselines'].get('shuffled_labels', {}).get('folds', 0)} fold(s)) must land near chance.",
        "",
        "## Azimuth on event windows",
        "",
        f"Median angular error {_fmt(ang['median_angular_error_deg'])} deg, +/-45 deg hit rate "
        f"{_fmt(ang['hit_rate_45deg'])}, predicted Normal on {_fmt(ang['predicted_normal_fraction'])} of event windows "
        f"(n = {ang['n']}). Power-only spectrograms cannot tell a bearing from its mirror images (at most 37.5% "
        "sector accuracy with evenly spread directions).",
        "",
        "## By geomagnetic activity (balanced accuracy)",
        "",
        "| Kp bin | n | magnitude | azimuth |",
        "|---|---|---|---|",
    ]
    for name, v in report["model"].get("by_kp", {}).items():
        lines.append(f"| {name} | {v['n']} | {_fmt(v['magnitude'])} | {_fmt(v['azimuth'])} |")
    lines += ["", "## Per-class recall / precision (model)", ""]
    for task in TASKS:
        lines.append(f"**{task}**: " + "; ".join(
            f"{c} {_fmt(v['recall'])}/{_fmt(v['precision'])} (n={v['support']})"
            for c, v in report["model"][task]["per_class"].items()))
        lines.append("")
    lines += ["## Folds", "", "| fold | fit | validation | test | test groups | best epoch | stopped |", "|---|---|---|---|---|---|---|"]
    for f in report["folds"]:
        lines.append(f"| {f['fold']} | {f['fit']} | {f['validation']} | {f['test']} | {f['test_groups']} | {f['best_epoch']} | {f['stopped']} |")
    lines += ["", "## Figures", ""] + [f"![{n}](figures/{n})" for n in figures]
    return "\n".join(lines) + "\n"
