"""The default model's report: every run of ``make model`` side by side, and the metrics its manifest carries.

Reads from one run directory (names fixed by the Makefile):

    cv_loeo/report.json          direction-aware model, leave-one-event-out
    cv_loeo_power/report.json    power-only model, same windows and folds
    cv_loso/report.json          direction-aware model, leave-one-station-out
    cv_no_precursors/report.json direction-aware recipe on the world without precursors (control)
    independent.json             the exported direction-aware model on an independent world (unseen seed)
    independent_power.json       the exported power-only model on the same world
    real_check.json              real quiet days and injection-recovery, direction-aware model
    real_check_power.json        the same for the power-only model
    ceilings.json                magnitude ceilings from ground truth
    sim_check.json               real vs simulated background (optional)
    station_eval.json            stations never seen in training, with and without baselines (train, train_power,
                                 train_station runs)
    network_eval.json            the network stage (python -m training network-eval; optional)

and writes ``report.md`` with figures, ``metrics_default.json`` and ``metrics_power.json``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from model_store.fileio import atomic_write_text

from .cv_report import ci, fmt, plot_amplitude, plot_reliability

logger = logging.getLogger(__name__)


def _load(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        logger.warning("%s is missing; its part of the report is left out", path)
        return None
    return json.loads(path.read_text())


def _row(name: str, rep: dict[str, Any] | None, note: str = "") -> str:
    """One table row of the headline metrics for a scored set (a CV 'model' block or an evaluation)."""
    if rep is None:
        return f"| {name} | " + " | ".join(["-"] * (len(HEADER[1].split("|")) - 3)) + " |"
    det = rep.get("detection", {})
    mag = rep.get("magnitude_given_event") or {}
    az = rep.get("azimuth_given_event") or {}
    cal = rep.get("calibration", {})
    ece = " / ".join(fmt(cal[h]["after"]["ece"]) if h in cal else "-" for h in ("magnitude", "azimuth"))
    cells = [
        name + (f" {note}" if note else ""),
        fmt(det.get("auc")),
        f"{fmt(det.get('alarm_false_alarm_rate'))} / {fmt(det.get('alarm_detection_rate'))}",
        f"{fmt(mag.get('balanced_accuracy'))} {ci((mag.get('ci95') or {}).get('balanced_accuracy'))}" if mag else "-",
        f"{fmt(az.get('sector_accuracy'))} {ci(az.get('sector_accuracy_ci95'))}" if az.get("n") else "-",
        f"{fmt(az.get('median_angular_error_deg'), 1)} {ci(az.get('median_angular_error_ci95'), 1)}" if az.get("n") else "-",
        fmt(az.get("hit_rate_45deg")) if az.get("n") else "-",
        " / ".join(fmt(x.get("log_loss")) for x in (mag, az)),
        ece,
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = [
    "| predictor | detection AUC | false-alarm / detection rate at the alarm | magnitude given event: bal. acc. [95% CI] "
    "| sector accuracy given event [95% CI] | median angular error, deg [95% CI] | +/-45 deg hits "
    "| log loss magnitude / sector | ECE magnitude / azimuth |",
    "|---|---|---|---|---|---|---|---|---|",
]


def _baseline(cv: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    return None if cv is None else cv.get("baselines", {}).get(name)


def side_by_side(r: dict[str, Any]) -> list[str]:
    loeo, power = r.get("cv_loeo"), r.get("cv_loeo_power")
    lines = ["### Leave-one-event-out, pooled test folds (same windows and folds for every row)", "", *HEADER]
    lines.append(_row("power-only model", power and power["model"]))
    lines.append(_row("**direction-aware model (default)**", loeo and loeo["model"]))
    if loeo:
        for part, rep in loeo["model"].get("azimuth_parts", {}).items():
            if part != "fused":
                lines.append(_row(f"direction-aware, azimuth from the {part}", {"azimuth_given_event": rep}))
    lines.append(_row("direction finder alone (physics baseline, no learning)", _baseline(loeo, "direction_finder")))
    lines.append(_row("event-only station prior", _baseline(loeo, "event_station_prior")))
    lines.append(_row("control: shuffled labels (direction-aware recipe)", loeo and loeo["controls"].get("shuffled_labels")))
    if power and power["controls"].get("shuffled_labels"):  # make model runs it for the default recipe only
        lines.append(_row("control: shuffled labels (power-only recipe)", power["controls"]["shuffled_labels"]))
    nop = r.get("cv_no_precursors")
    lines.append(_row("control: world without precursors", nop and nop["model"],
                      f"({nop['folds_run']} folds)" if nop else ""))
    lines += ["", "Reading the controls: the direction finder uses no labels, so a model trained and calibrated on "
              "shuffled labels still points the same way (its sector accuracy is the finder's); what must fall is "
              "everything learnt from labels: detection AUC (0.5), magnitude (0.333) and the calibrated confidence, "
              "whose log loss rises towards chance (1.099 / 2.079). A model that recognises stations is pulled below "
              "chance under grouped splits (each station's share of shuffled events on the training side is "
              "complementary to its share in the test fold), as the per-station prior baseline is. In the world "
              "without precursors there is no emission to find: detection and direction must be at chance; "
              "magnitude falls only to what the station itself tells (the event-only station prior), because the "
              "model recognises the station from its background.",
              "", "### Other splits and an independent world", "", *HEADER]
    loso = r.get("cv_loso")
    lines.append(_row("direction-aware, leave-one-station-out", loso and loso["model"],
                      f"({loso['folds_run']} station groups)" if loso else ""))
    lines.append(_row("power-only, independent world", r.get("independent_power")))
    lines.append(_row("**direction-aware, independent world**", r.get("independent")))
    return lines


def ceilings_table(c: dict[str, Any] | None, loeo: dict[str, Any] | None) -> list[str]:
    if c is None:
        return []
    lines = ["| magnitude given an event (3 classes) | balanced accuracy |", "|---|---|"]
    if loeo:
        lines.append(f"| direction-aware model (LOEO) | {fmt(loeo['model']['magnitude_given_event']['balanced_accuracy'])} |")
        prior = loeo["baselines"].get("event_station_prior", {}).get("magnitude_given_event")
        if prior:
            lines.append(f"| event-only station prior (LOEO) | {fmt(prior['balanced_accuracy'])} |")
    for name, v in c["ceilings"].items():
        lines.append(f"| ceiling from true values: {name} | {fmt(v['balanced_accuracy'])} |")
    lines.append(f"| chance | {fmt(c['chance_balanced_accuracy'])} |")
    return lines


def real_table(real: dict[str, Any] | None, power: dict[str, Any] | None) -> list[str]:
    if real is None:
        return []
    lines = [f"Real files: {', '.join(real['files'])}.", "",
             "| model | windows | alarms | highest P(event) | alarm threshold |", "|---|---|---|---|---|"]
    for name, rep in (("direction-aware", real), ("power-only", power)):
        if rep:
            q = rep["quiet_days"]
            lines.append(f"| {name} | {len(q['windows'])} | {q['alarms']} | {fmt(q['max_precursor_probability'])} | "
                         f"{fmt(q['alarm_threshold'])} |")
    lines += ["", "Injection-recovery on those real windows (emissions of known amplitude and bearing added):", "",
              "| received amplitude (nT) | alarm rate, direction-aware | sector accuracy, direction-aware "
              "| median error (deg) | alarm rate, power-only | sector accuracy, power-only |",
              "|---|---|---|---|---|---|"]
    pw = {row["amplitude_nt"]: row for row in (power or {}).get("injection_recovery", [])}
    for row in real["injection_recovery"]:
        p = pw.get(row["amplitude_nt"], {})
        lines.append(f"| {row['amplitude_nt']:g} | {fmt(row['alarm_rate'])} | {fmt(row['sector_accuracy'])} | "
                     f"{fmt(row['median_angular_error_deg'], 1)} | {fmt(p.get('alarm_rate'))} | {fmt(p.get('sector_accuracy'))} |")
    return lines


RUN_OF = {"default": "train", "power": "train_power", "station": "train_station"}


def _station_eval_of(r: dict[str, Any], which: str) -> dict[str, Any] | None:
    """A model's part of station_eval.json (its key names its run directory)."""
    se = r.get("station_eval") or {}
    return next((m for key, m in se.get("models", {}).items() if key.endswith(f"/{RUN_OF[which]}")), None)


MODE_NAMES = {"model_alone": "no baseline", "a_p_value": "(a) baseline p-value",
              "b_relative_input": "(b) input relative to the baseline", "c_both": "(c) both"}


def station_table(r: dict[str, Any]) -> list[str]:
    """Stations never seen in training: each model without and with its stations' baselines."""
    se = r.get("station_eval")
    if not se:
        return ["(station_eval.json is missing)"]
    c = se["config"]
    lines = [f"A world whose {len(se['baselines'])} stations carry traits never used in training (station_seed "
             f"{c['station_seed']}), {c['days']} days; each station's baseline from {c['baseline_days']} days of "
             "another period of the same station (`python -m training station-eval`). Targets: quiet windows in "
             "alarm <= 0.05 overall and <= 0.10 at every station, event windows in alarm >= 0.85, event-window "
             "sector accuracy >= 0.75.", "",
             "| model | judged by | quiet windows in alarm | worst station | stations over 0.10 | event windows in "
             "alarm | detection ROC AUC | sector accuracy |", "|---|---|---|---|---|---|---|---|"]
    for which in ("default", "power", "station"):
        modes = _station_eval_of(r, which)
        for mode, m in (modes or {}).items():
            lines.append(f"| {which} | {MODE_NAMES.get(mode, mode)} | {fmt(m['quiet_in_alarm'])} ({m['quiet_windows']}) | "
                         f"{fmt(m['worst_station_quiet_in_alarm'])} | {len(m['stations_over_0.10'])} | "
                         f"{fmt(m['events_in_alarm'])} ({m['event_windows']}) | {fmt(m['detection_auc'])} | "
                         f"{fmt(m['event_sector_accuracy'])} |")
    return lines


NETWORK_HEADING = "## The network stage: several stations"


def _ci_of(block: dict[str, Any], key: str, digits: int = 3) -> str:
    return f"{fmt(block.get(key), digits)} {ci(block.get(key + '_ci95'), digits)}".strip()


def network_table(n: dict[str, Any] | None) -> list[str]:
    """The network stage's section (``python -m training network-eval``'s report)."""
    if n is None:
        return []
    d = n["dense_array"]
    cal = n.get("bearing_calibration", {})
    lines = [NETWORK_HEADING, "",
             f"`python -m training network-eval`: the chain `POST /analyze/network` runs (each simulated station-day "
             f"written as a {d['format']} file and read back, the window pipeline, `network_timeline`), with the "
             f"network model fitted on another world ({n.get('magnitude_model_fitted_on', '-')}). Evaluation world: "
             f"`{d['world']}` (seed {d['seed']}, {d['days']} days, {d['stations']} stations, another layout). Bearing "
             f"calibration: kappa_net = 1 / ({fmt(cal.get('scale'), 2)} / kappa + ({fmt(cal.get('floor_deg'), 1)} "
             "deg)^2). Intervals: 95% bootstrap over events.", "",
             "| events detected at | event-windows (events) | fixed [95% CI] | median error, km [95% CI] "
             "| 90th percentile, km [95% CI] | 95% ellipse holds the epicentre [95% CI] |",
             "|---|---|---|---|---|---|"]
    for k, name in (("2", "2 stations"), ("3+", "3 or more stations")):
        b = d["localisation"].get(k, {})
        lines.append(f"| {name} | {b.get('event_windows', 0)} ({b.get('events', 0)}) | {_ci_of(b, 'fix_share')} | "
                     f"{_ci_of(b, 'median_error_km', 1)} | {_ci_of(b, 'p90_error_km', 1)} | {_ci_of(b, 'ellipse_coverage')} |")
    lines.append(f"| all fixes | | | | | {_ci_of(d, 'ellipse_coverage_all_fixes')} |")
    lines += ["", f"An event-window is an event detected (the station in alarm, the event its loudest emission) at two "
              f"or more stations in one common window; a fix belongs to the event most of its stations receive "
              f"loudest. Of {d['fixes']} fixes, {d['fixes_belonging_to_no_event']} belong to no event (stations "
              "receiving different overlapping emissions, or none).", ""]
    m = d.get("magnitude", {})
    if "network_given_a_fix" in m:
        classes = ", ".join(f"{c} {v}" for c, v in sorted(m["classes"].items()))
        lines += ["| magnitude given a fix (located event-windows) | balanced accuracy [95% CI] | recall per class |",
                  "|---|---|---|"]
        for key, name in (("network_given_a_fix", "**network**: the magnitude model on the fix's distances"),
                          ("ceiling_true_epicentre", "ceiling: the same classifier given the true epicentre"),
                          ("refitted_on_true_epicentre", "its recipe refitted on true-epicentre features"),
                          ("count_of_detecting_stations_only", "baseline: the number of detecting stations only"),
                          ("one_station_model", "one station: the station model's own magnitude head")):
            if key in m:
                recall = ", ".join(f"{c} {fmt(v)}" for c, v in (m[key].get("recall") or {}).items())
                lines.append(f"| {name} | {fmt(m[key]['balanced_accuracy'])} {ci(m[key]['ci95'])} | {recall} |")
        gap = m.get("network_minus_ceiling")
        gap_text = (f" Network minus ceiling, paired on the same windows: {fmt(gap['difference'])} "
                    f"{ci(gap['ci95'])}." if gap else "")
        lines += [f"| chance | {fmt(m['chance'])} | |", "",
                  f"{m['windows']} located event-windows of {m['events']} events ({classes}).{gap_text} Every fitted "
                  "part comes from another simulated world; the magnitude law is the simulator's. Few Moderate events "
                  "reach two stations, so each of their windows moves balanced accuracy by a lot: read the intervals.",
                  ""]
    lines += ["| windows without an emission at any station | windows | with 2+ stations in alarm | network alarms "
              "(fixes) | share [95% upper bound] | one station's false-alarm rate |", "|---|---|---|---|---|---|"]
    rows = [("evaluation world", d["windows_without_emission"].get("all"))]
    quiet = n.get("dense_array_without_precursors")
    if quiet:
        rows += [(f"same layout without precursors ({quiet['days']} days, {quiet['storm_days']} with Kp >= 5)",
                  quiet.get("all")), ("... its storm windows (Kp >= 5)", quiet.get("storm"))]
    for name, q in rows:
        if q and q.get("windows"):
            lines.append(f"| {name} | {q['windows']} | {q['windows_with_2plus_detections']} | {q['network_alarms']} "
                         f"({q['fixes']}) | {fmt(q['alarm_share'])} [{fmt(q['alarm_share_upper95'])}] | "
                         f"{fmt(q['station_false_alarm_rate'])} |")
    amp = d.get("amplitude_estimator_check", {})
    if amp.get("by_true_amplitude_nt"):
        lines += ["", f"Received amplitude estimator ({amp['estimator']}) against the simulator's RMS amplitude, "
                  "windows with one dominant emission:", "",
                  "| true RMS amplitude, nT | windows | median estimate / true | scatter, dex |", "|---|---|---|---|"]
        for row in amp["by_true_amplitude_nt"]:
            lines.append(f"| {row['range'][0]:g}-{row['range'][1]:g} | {row['windows']} | {fmt(row['median_ratio'], 2)} | "
                         f"{fmt(row['sd_dex'], 2)} |")
        if amp.get("without_emission_median_nt") is not None:
            lines += ["", f"Without an emission it reads {fmt(amp['without_emission_median_nt'], 3)} nT (median): the "
                      "background's chance coherence."]
    b = n.get("bmkg")
    if b:
        lines += ["", "**The BMKG layout.** " + b["statement"] + (
            f" Through the chain, {b['days_through_chain']} days of `{b['world']}` gave {b['event_windows_detected_at_2plus']} "
            f"event-windows detected at two stations, {b['fixes']} fixes and {b['network_alarms']} network alarms.")]
    return lines


def manifest_metrics(r: dict[str, Any], which: str) -> dict[str, Any]:
    """The summary a model's manifest carries (and /v2/models shows)."""
    from .cv_report import summary
    from .evaluate import headline

    suffix = "" if which == "default" else f"_{which}"
    cv, ind, real = (r.get(f"{name}{suffix}") for name in ("cv_loeo", "independent", "real_check"))
    out: dict[str, Any] = {}
    if cv:
        out["cross_validation"] = summary(cv)
    if ind:
        out["independent_world"] = {
            **headline(ind), "ece": {h: ind["calibration"][h]["after"]["ece"] for h in ind["calibration"]},
        }
    if real:
        out["real_quiet_days"] = {k: real["quiet_days"][k] for k in ("alarms", "max_precursor_probability")} | {
            "windows": len(real["quiet_days"]["windows"]), "files": real["files"]}
    if r.get("ceilings"):
        out["magnitude_ceilings"] = {k: v["balanced_accuracy"] for k, v in r["ceilings"]["ceilings"].items()}
    unseen = _station_eval_of(r, which)
    if unseen and unseen.get("model_alone"):
        alone = unseen["model_alone"]
        out["unseen_stations"] = {"false_alarm_rate": alone["quiet_in_alarm"],
                                  "worst_station_false_alarm_rate": alone["worst_station_quiet_in_alarm"],
                                  "detection_rate": alone["events_in_alarm"],
                                  "with_baselines": {mode: {"false_alarm_rate": m["quiet_in_alarm"],
                                                            "detection_rate": m["events_in_alarm"]}
                                                     for mode, m in unseen.items() if mode != "model_alone"}}
    if cv:
        out["what_each_head_can_know"] = head_statements(cv, ind, real, r.get("ceilings"), which)
    return out


def head_statements(cv: dict[str, Any], ind: dict[str, Any] | None, real: dict[str, Any] | None,
                    ceilings: dict[str, Any] | None, which: str) -> dict[str, str]:
    """What each head can know, in plain words, from the model's own evaluation."""
    m = cv["model"]
    det = m["detection"]
    on_ind = f", {fmt(ind['detection']['auc'])} on an independent simulated world" if ind else ""
    real_note = (f" On the real quiet days checked it raised {real['quiet_days']['alarms']} alarm(s) in "
                 f"{len(real['quiet_days']['windows'])} windows." if real else "")
    out = {"detection": (
        f"Tells event windows from Normal ones in the simulated world (ROC AUC {fmt(det['auc'])} leave-one-event-out"
        f"{on_ind}); the alarm (P(event) at or above the threshold) caught {fmt(det['alarm_detection_rate'])} of "
        f"event windows at a false-alarm rate of {fmt(det['alarm_false_alarm_rate'])} on Normal ones. Windows whose "
        f"received emission is below about 0.05 nT are mostly missed.{real_note} It has never seen a real precursor; "
        "P(event) is calibrated for an even mix of event and Normal windows, not for the rarity of real events.")}
    mag = m["magnitude_given_event"]["balanced_accuracy"]
    prior = cv["baselines"].get("event_station_prior", {}).get("magnitude_given_event", {}).get("balanced_accuracy")
    c = (ceilings or {}).get("ceilings", {})
    signal, distance = c.get("signal", {}).get("balanced_accuracy"), c.get("with distance", {}).get("balanced_accuracy")
    verdict = ("It does not beat the station prior: its calibrated probabilities stay close to uniform. Read them as "
               "'magnitude unknown', not as an estimate." if prior is not None and mag < prior else
               "It beats the station prior only by what the table in the report shows.")
    out["magnitude"] = (
        f"Given an event, magnitude is barely identifiable from one station: the received amplitude depends on "
        f"magnitude and distance together. Balanced accuracy {fmt(mag)} (chance 0.333) against {fmt(signal)} for a "
        f"classifier on the true received signal (the single-station ceiling), {fmt(prior)} for the station's own "
        f"history of event magnitudes (a geometry prior, not physics) and {fmt(distance)} with the true distance, "
        f"which one station cannot measure. {verdict}")
    az = m["azimuth_given_event"]
    ind_az = f"; {fmt(ind['azimuth_given_event']['sector_accuracy'])} on the independent world" if ind else ""
    if which in ("default", "station"):
        out["azimuth"] = (
            f"Given an event, the bearing comes from the Z-referenced cross-spectra (a direction finder, not learnt): "
            f"8-sector accuracy {fmt(az['sector_accuracy'])}, median angular error {fmt(az['median_angular_error_deg'], 1)} "
            f"degrees (leave-one-event-out{ind_az}). It is reliable above about 0.05 nT of received emission and at "
            "chance without one. What is learnt is the confidence: a calibrated von Mises distribution with an "
            "outlier share, from which the sector probabilities and bearing_uncertainty_deg come.")
    else:
        out["azimuth"] = (
            f"A power spectrogram cannot tell a bearing from its mirror images (at most 0.375 of 8 sectors with evenly "
            f"spread bearings): sector accuracy given an event {fmt(az['sector_accuracy'])}, median error "
            f"{fmt(az['median_angular_error_deg'], 1)} degrees. Use the direction-aware default model for bearings.")
    return out


def write_model_report(runs: Path, out: Path) -> None:
    names = ("cv_loeo", "cv_loeo_power", "cv_loeo_station", "cv_loso", "cv_loso_station", "cv_no_precursors")
    r: dict[str, Any] = {n: _load(runs / n / "report.json") for n in names}
    for n in ("independent", "independent_power", "independent_station", "real_check", "real_check_power",
              "real_check_station", "ceilings", "sim_check", "station_eval", "network_eval"):
        r[n] = _load(runs / f"{n}.json")
    if r["cv_loeo"] is None:  # the manifests' metrics and the statements come from it
        raise FileNotFoundError(f"{runs / 'cv_loeo' / 'report.json'} is missing: run the cross-validation first")
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    if r["independent"]:
        plot_reliability(r["independent"]["calibration"], "direction-aware model on the independent world",
                         figures / "reliability_independent.png")
    if r["cv_loeo"]:
        plot_reliability(r["cv_loeo"]["model"]["calibration"], "direction-aware model, LOEO pooled test folds",
                         figures / "reliability_loeo.png")
    curves = {}
    if r["independent"] and r["independent"].get("by_emission_amplitude"):
        curves["direction-aware, independent world"] = r["independent"]["by_emission_amplitude"]
    if r["independent_power"] and r["independent_power"].get("by_emission_amplitude"):
        curves["power-only, independent world"] = r["independent_power"]["by_emission_amplitude"]
    if curves:
        plot_amplitude(curves, "simulated event windows by received amplitude", figures / "by_amplitude.png")
    if r["real_check"]:
        real_curves = {"direction-aware": [dict(b, low_nt=b["amplitude_nt"]) for b in r["real_check"]["injection_recovery"]]}
        if r["real_check_power"]:
            real_curves["power-only"] = [dict(b, low_nt=b["amplitude_nt"]) for b in r["real_check_power"]["injection_recovery"]]
        plot_amplitude(real_curves, "emissions injected into real quiet days", figures / "injection_recovery.png")
    lines = ["# The default model: direction-aware, side by side with the power-only model", "",
             "Generated by `make model` (`python -m training model-report`). Every number describes the simulated "
             "world and the few real days named below, not real precursors.", "", "## Side by side", ""]
    lines += side_by_side(r)
    lines += ["", "## Stations never seen in training", ""] + station_table(r)
    lines += ["", "## Magnitude against what one station can know", ""] + ceilings_table(r["ceilings"], r["cv_loeo"])
    lines += ["", "## Real data", ""] + real_table(r["real_check"], r["real_check_power"])
    if r["network_eval"]:
        lines += [""] + network_table(r["network_eval"])
    if r["cv_loeo"] and r["cv_loeo"]["model"].get("label_noise"):
        noise = r["cv_loeo"]["model"]["label_noise"]
        lines += ["", "## Label noise (ground truth)", "",
                  "; ".join(f"{k.replace('_', ' ')}: {fmt(v)}" for k, v in noise.items()) + "."]
    lines += ["", "## Figures", ""] + [f"![{p.name}](figures/{p.name})" for p in sorted(figures.glob("*.png"))]
    lines += ["", "Full reports: " + ", ".join(f"[{n}]({n}/report.md)" for n in names if r[n]) + "."]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    for which in ("default", "power", "station"):
        atomic_write_text(out / f"metrics_{which}.json", json.dumps(manifest_metrics(r, which), indent=2) + "\n")
    logger.info("model report written to %s", out / "report.md")


__all__ = ["manifest_metrics", "network_table", "write_model_report"]
