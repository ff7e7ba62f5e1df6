"""A cross-validation report (:func:`training.cv.run_cv`): written as JSON, Markdown and PNG figures, and its
compact summary for a model's manifest. The formatting helpers serve :mod:`training.model_report` too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from model_store.fileio import atomic_write_text
from model_store.labels import TASKS


def fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return "nan" if np.isnan(x) else f"{x:.{digits}f}"
    return str(x)


def ci(interval: Any, digits: int = 3) -> str:
    return f"[{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]" if interval else "-"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(cm: list[list[int]], labels: list[str], title: str, path: Path) -> None:
    plt = _plt()
    cm_a = np.asarray(cm, dtype=float)
    rows = cm_a.sum(axis=1, keepdims=True)
    norm = np.divide(cm_a, rows, out=np.zeros_like(cm_a), where=rows > 0)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.5 + 0.6 * len(labels)), max(4.0, 1.2 + 0.55 * len(labels))))
    ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, int(cm_a[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_reliability(calibration: dict[str, Any], title: str, path: Path) -> None:
    """Reliability diagrams (top-label confidence vs accuracy) before and after temperature scaling."""
    plt = _plt()
    heads = list(calibration)
    fig, axes = plt.subplots(1, len(heads), figsize=(4.2 * len(heads), 4.0))
    for ax, head in zip(np.atleast_1d(axes), heads):
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
        for when, style in (("before", "o--"), ("after", "s-")):
            rel = calibration[head][when]
            conf = [b["confidence"] for b in rel["bins"]]
            acc = [b["accuracy"] for b in rel["bins"]]
            ax.plot(conf, acc, style, ms=4, label=f"{when} (ECE {rel['ece']:.3f})")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy", title=head)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_amplitude(series: dict[str, list[dict[str, Any]]], title: str, path: Path, x_key: str = "low_nt") -> None:
    """Alarm rate and sector accuracy against the received emission amplitude."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, bins in series.items():
        x = [max(b[x_key], 0.005) for b in bins]
        axes[0].plot(x, [b["alarm_rate"] for b in bins], "o-", label=name)
        axes[1].plot(x, [b["sector_accuracy"] for b in bins], "o-", label=name)
    axes[0].set(xscale="log", ylim=(0, 1.02), xlabel="received emission amplitude (nT)", ylabel="alarm rate")
    axes[1].set(xscale="log", ylim=(0, 1.02), xlabel="received emission amplitude (nT)", ylabel="8-sector accuracy")
    axes[1].axhline(1 / 8, color="grey", ls=":", lw=0.8)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def render_figures(report: dict[str, Any], out: Path) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for task in TASKS:
        name = f"confusion_{task}.png"
        plot_confusion(report["model"][task]["confusion_matrix"], report["model"][task]["labels"],
                       f"{task} labels: {report['scheme']}, pooled test folds", out / name)
        names.append(name)
    plot_reliability(report["model"]["calibration"], f"reliability, {report['scheme']} pooled test folds",
                     out / "reliability.png")
    names.append("reliability.png")
    if report["model"].get("by_emission_amplitude"):
        plot_amplitude({"model": report["model"]["by_emission_amplitude"]}, "event windows by received amplitude",
                       out / "by_amplitude.png")
        names.append("by_amplitude.png")
    plt = _plt()
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


def given_event_rows(name: str, rep: dict[str, Any]) -> list[str]:
    """Table rows: magnitude and azimuth given an event, for one predictor."""
    mag, az = rep.get("magnitude_given_event"), rep.get("azimuth_given_event")
    cells = [name]
    cells += [fmt(mag["accuracy"]), fmt(mag["balanced_accuracy"]), ci(mag["ci95"]["balanced_accuracy"])] if mag else ["-"] * 3
    if az and az.get("n"):
        cells += [fmt(az["sector_accuracy"]), ci(az["sector_accuracy_ci95"]), fmt(az["median_angular_error_deg"], 1),
                  ci(az["median_angular_error_ci95"], 1), fmt(az["hit_rate_45deg"])]
    else:
        cells += ["-"] * 5
    losses = [fmt((mag or {}).get("log_loss")), fmt((az or {}).get("log_loss"))]
    cells.append(" / ".join(losses))
    return ["| " + " | ".join(cells) + " |"]


GIVEN_EVENT_HEADER = [
    "| predictor | magnitude acc. | magnitude bal. acc. | 95% CI | sector acc. | 95% CI | median error (deg) | 95% CI "
    "| +/-45 deg hits | log loss magnitude / sector |",
    "|---|---|---|---|---|---|---|---|---|---|",
]


def render_markdown(report: dict[str, Any], figures: list[str]) -> str:
    m = report["model"]
    det = m["detection"]
    cfg = report["train_config"]
    lines = [
        f"# Cross-validation report ({report['scheme']}, {cfg['representation']}, azimuth head {cfg['azimuth_head']})",
        "",
        f"{report['samples']} windows; {report['folds_run']} of {report['folds_total']} folds run (grouped by "
        f"`{report['group_key']}`); {report['test_windows']} test windows of {report['test_events']} events pooled. "
        "Each fold trains with the exported model's recipe, selects its epoch and fits its calibration on a "
        "validation split of whole groups from its training side only.",
        "",
        "## Detection and alarm",
        "",
        f"Event vs Normal ROC AUC {fmt(det['auc'])}. Alarm (P(event) >= the fold's threshold, chosen for a 5% "
        f"false-alarm rate on validation Normals; thresholds {fmt(det['alarm_threshold'][0])}-"
        f"{fmt(det['alarm_threshold'][1])}, never below 0.5; expected false-alarm rate on the held-out Normals they were "
        f"chosen on {fmt(det.get('alarm_expected_false_alarm_rate'))}): detection rate {fmt(det['alarm_detection_rate'])}, "
        f"false-alarm rate {fmt(det['alarm_false_alarm_rate'])} on test Normal windows. Labels (Normal iff P(event) < 0.5): event "
        f"recall {fmt(det['label_event_recall'])}, Normal recall {fmt(det['label_normal_recall'])}.",
        "",
        "## Given an event: magnitude and direction (event windows only)",
        "",
        *GIVEN_EVENT_HEADER,
        *given_event_rows("model (served)", m),
    ]
    for name, part in m.get("azimuth_parts", {}).items():
        lines += given_event_rows(f"azimuth part: {name}", {"azimuth_given_event": part})
    for name, rep in report["baselines"].items():
        if "magnitude_given_event" in rep or "azimuth_given_event" in rep:
            lines += given_event_rows(name, rep)
    for name, rep in report.get("controls", {}).items():
        lines += given_event_rows(f"control: {name}", rep)
    lines += [
        "",
        "Chance: magnitude balanced accuracy 1/3, sector accuracy 1/8, median angular error 90 deg, log loss "
        "1.099 (magnitude) / 2.079 (sector). Log loss is that of the served, calibrated probabilities given an event.",
        "",
        "## Served labels (all windows; Normal when P(event) < 0.5)",
        "",
        "| task | predictor | accuracy | balanced acc. | 95% CI (events) | macro-F1 | MCC |",
        "|---|---|---|---|---|---|---|",
    ]
    predictors = [("model", m)] + [(k, v) for k, v in report["baselines"].items() if "magnitude" in v]
    predictors += [(f"control: {k}", v) for k, v in report.get("controls", {}).items()]
    for task in TASKS:
        for name, rep in predictors:
            r = rep[task]
            lines.append(f"| {task} | {name} | {fmt(r['accuracy'])} | {fmt(r['balanced_accuracy'])} | "
                         f"{ci(r['ci95']['balanced_accuracy'])} | {fmt(r['macro_f1'])} | {fmt(r['mcc'])} |")
    lines += ["", "## Calibration (ECE, 10 bins, pooled test folds)", "", "| head | before | after |", "|---|---|---|"]
    for head, rel in m["calibration"].items():
        lines.append(f"| {head} | {fmt(rel['before']['ece'])} | {fmt(rel['after']['ece'])} |")
    if m.get("by_emission_amplitude"):
        lines += ["", "## Event windows by received emission amplitude (simulated ground truth)", "",
                  "| amplitude (nT) | n | alarm rate | sector accuracy |", "|---|---|---|---|"]
        for b in m["by_emission_amplitude"]:
            hi = "" if b["high_nt"] is None else f"{b['high_nt']:g}"
            lines.append(f"| {b['low_nt']:g}-{hi} | {b['n']} | {fmt(b['alarm_rate'])} | {fmt(b['sector_accuracy'])} |")
    if m.get("label_noise"):
        noise = m["label_noise"]
        lines += ["", "Label noise from ground truth: " + "; ".join(f"{k.replace('_', ' ')} {fmt(v)}" for k, v in noise.items()) + "."]
    lines += ["", "## By geomagnetic activity", "", "| Kp bin | n | detection AUC | false-alarm rate |", "|---|---|---|---|"]
    for name, v in m.get("by_kp", {}).items():
        lines.append(f"| {name} | {v['n']} | {fmt(v['detection_auc'])} | {fmt(v['false_alarm_rate'])} |")
    lines += ["", "## Per-class recall / precision (served labels)", ""]
    for task in TASKS:
        lines.append(f"**{task}**: " + "; ".join(
            f"{c} {fmt(v['recall'])}/{fmt(v['precision'])} (n={v['support']})" for c, v in m[task]["per_class"].items()))
        lines.append("")
    lines += ["## Folds", "", "| fold | fit | validation | test | test groups | best epoch | stopped | T det / mag / az | alarm threshold |",
              "|---|---|---|---|---|---|---|---|---|"]
    for f in report["folds"]:
        c = f["calibration"]
        lines.append(f"| {f['fold']} | {f['fit']} | {f['validation']} | {f['test']} | {f['test_groups']} | {f['best_epoch']} | "
                     f"{f['stopped']} | {c['detection_temperature']:.2f} / {c['magnitude_temperature']:.2f} / "
                     f"{c['azimuth_temperature']:.2f} | {c['alarm_threshold']:.3f} |")
    lines += ["", "## Figures", ""] + [f"![{n}](figures/{n})" for n in figures]
    return "\n".join(lines) + "\n"


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The compact form stored in a model's manifest."""
    from .evaluate import headline

    m = report["model"]
    out = {
        "scheme": report["scheme"], "folds_run": report["folds_run"], "folds_total": report["folds_total"],
        "test_windows": report["test_windows"], "train_config": report["train_config"],
        **headline(m),
        "labels": {t: {k: m[t][k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "mcc")} for t in TASKS},
        "ece_after_calibration": {t: m["calibration"][t]["after"]["ece"] for t in m["calibration"]},
    }
    return out


def write_report(report: dict[str, Any], out_dir: str | Path) -> None:
    """``report.json``, ``report.md`` and ``figures/`` of a cross-validation report in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, default=float) + "\n")
    figures = render_figures(report, out / "figures")
    atomic_write_text(out / "report.md", render_markdown(report, figures))


__all__ = ["ci", "fmt", "plot_amplitude", "plot_confusion", "plot_reliability", "render_figures", "render_markdown",
           "summary", "write_report"]
