"""The demo's ``report.md``: one function per section of ``demo.run_demo``'s summary."""
from __future__ import annotations


def report(summary: dict) -> str:
    lines = [f"# CLAIM demo report (CLAIMLib {summary['version']})", ""]
    for section in (_phantom, _emidec, _realism, _aha, _scar, _smile, _mask_realism, _diffusion, _fidelity,
                    _segmentation, _joint, _run_time):
        lines += section(summary)
    return "\n".join(lines)


def _phantom(summary: dict) -> list:
    """The phantom cohort: grids, slice order against the truth, volumes, scar territory."""
    lines = []
    ph = summary["phantom"]
    correct = sum(1 for i in ph if i["slice_order"]["order"] == i["truth"]["slice_order"])
    lines += [f"## Phantom cohort (seed {summary['seed']}, {len(ph)} cases)", "",
              f"Slice order detected correctly in {correct}/{len(ph)} cases.", "",
              "| case | size | spacing (mm) | order (detected / truth) | myocardium mL | scar mL | MVO mL | territory | scar segments |",
              "|---|---|---|---|---|---|---|---|---|"]
    for i in ph:
        v = i["volumes_ml"]
        lines.append(f"| {i['case_id']} | {'x'.join(map(str, i['size']))} | "
                     f"{' x '.join(f'{s:.3g}' for s in i['spacing_mm'])} | "
                     f"{i['slice_order']['order']} / {i['truth']['slice_order']} | {v['myocardium']:.2f} | "
                     f"{v['scar']:.2f} | {v['mvo']:.2f} | {i['truth']['scar_territory'] or '-'} | "
                     f"{', '.join(map(str, i['truth']['scar_segments'])) or '-'} |")
    lines.append("")
    return lines


def _emidec(summary: dict) -> list:
    """The EMIDEC sample cases, or where to put them."""
    lines = []
    if summary["emidec"]:
        lines += ["## EMIDEC sample cases", "",
                  "| case | size | spacing (mm) | slice order | cavity mL | myocardium mL | scar mL | MVO mL |",
                  "|---|---|---|---|---|---|---|---|"]
        for i in summary["emidec"]:
            v = i["volumes_ml"]
            lines.append(f"| {i['case_id']} | {'x'.join(map(str, i['size']))} | "
                         f"{' x '.join(f'{s:.5g}' for s in i['spacing_mm'])} | {i['slice_order']['order']} | "
                         f"{v['cavity']:.2f} | {v['myocardium']:.2f} | {v['scar']:.2f} | {v['mvo']:.4f} |")
        lines.append("")
    else:
        lines += ["EMIDEC samples not found (set CLAIM_EMIDEC or pass --emidec).", ""]
    return lines


def _realism(summary: dict) -> list:
    """How the phantoms read against real LGE: contrast and texture in remote-myocardium units."""
    rows = summary.get("realism", {})
    if not rows:
        return []
    lines = ["## Phantom against real LGE", "",
             "Contrast-to-noise against remote myocardium (mean difference over the remote SD); roughness: mean "
             "in-plane neighbour difference over the remote SD. `realism_montage.png` shows the slices at one window "
             "(-3 to +5 remote SDs).", "",
             "| case | blood CNR | scar CNR | roughness | blood/remote | scar/remote |", "|---|---|---|---|---|---|"]

    def fmt(v):
        return "-" if v is None else f"{v:.2f}"

    for cid, s in rows.items():
        lines.append(f"| {cid} | {fmt(s['blood_cnr'])} | {fmt(s['scar_cnr'])} | {fmt(s['roughness'])} | "
                     f"{fmt(s['blood_remote'])} | {fmt(s['scar_remote'])} |")
    lines.append("")
    return lines


def _aha(summary: dict) -> list:
    """AHA-17 agreement with the phantoms' truth, and each scar's top segments."""
    lines = []
    aha = summary.get("aha", [])
    if aha:
        lines += ["## AHA-17 segments and scar bull's-eyes", "",
                  "Segments are found in each subject's own space; the septum comes from the LGE image alone "
                  "(the RV blood pool against the septum). Phantoms are checked against their ground truth, also "
                  "with the RV mask as the orientation source. Overlay montage: `aha_montage.png`.", "",
                  "| case | orientation (confidence) | agreement, image | agreement, RV mask | scar: top segments (mL) | bull's-eye |",
                  "|---|---|---|---|---|---|"]
        for e in aha:
            o = e["orientation"]
            img = f"{100 * e['agreement_image']:.1f}%" if "agreement_image" in e else "-"
            rv = f"{100 * e['agreement_rv_mask']:.1f}%" if "agreement_rv_mask" in e else "-"
            top = ", ".join(f"{s}: {v}" for s, v in e.get("top_scar_segments", [])) or "-"
            lines.append(f"| {e['case_id']} | {o['source']} ({o['confidence']:.2f}) | {img} | {rv} | {top} | "
                         f"{('`' + e['bullseye'] + '`') if 'bullseye' in e else '-'} |")
        lines.append("")
    return lines


def _scar(summary: dict) -> list:
    """Classic thresholds against the truth."""
    rows = summary.get("scar", [])
    if not rows:
        return []
    lines = ["## Classic scar quantification (no model)", "",
             "`claim scar`: thresholds relative to automatically chosen remote myocardium, within the whole "
             "myocardium of the labels (their scar is ignored), against the true infarct. Clinical phantoms carry "
             "their scar only a few remote SDs above a drifting nulling, so even the best single threshold finds "
             "about 0.6 of it; EMIDEC P100 is real.", "",
             "| case | method | scar Dice | found / true volume | scar mL (truth) | MVO mL (truth) | remote | report |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case_id']} | {r['method']} | {r['dice']:.3f} | {r['volume_ratio']:.2f} | "
                     f"{r['scar_ml']:.1f} ({r['truth_ml']:.1f}) | {r['mvo_ml']:.2f} ({r['truth_mvo_ml']:.2f}) | "
                     f"{r['remote']} | `{r['report']}` |")
    return lines + [""]


def _smile(summary: dict) -> list:
    """The SMILE masks of each setting."""
    lines = []
    sm = summary.get("smile")
    if sm:
        lines += [f"## SMILE scar masks on {sm['case_id']} (normal)", "",
                  "Masks: `smile_montage.png`; where they fall: `smile_bullseye.png`.", "",
                  "| setting | segments | pattern | target mL | achieved mL | MVO mL | ms |", "|---|---|---|---|---|---|---|"]
        for e in sm["masks"]:
            lines.append(f"| {e['setting']} | {', '.join(map(str, e['segments']))} | {e['pattern']} | "
                         f"{e['target_ml']:.2f} | {e['achieved_ml']:.2f} | {e['mvo_ml']:.2f} | {e['ms']:.0f} |")
        lines.append("")
        short = [e for e in sm["masks"] if e.get("warning")]
        lines += [f"- **{e['setting']}** is short of its target: {e['warning']}." for e in short]
        if short:
            lines.append("")
    return lines


def _mask_realism(summary: dict) -> list:
    from ..maskstats import DISTANCES

    rows = summary.get("mask_realism")
    if not rows:
        return []
    lines = ["## Are SMILE masks like real infarcts? (`claim mask-stats`)", "",
             "Distances to the reference scars (lower is closer): SMILE masks / balls on the same hearts with the "
             "reference's volume fractions.", "",
             "| reference | masks | " + " | ".join(name + (f" ({unit})" if unit else "") for _, name, unit in DISTANCES)
             + " |",
             "|---|---|" + "---|" * len(DISTANCES)]
    for r in rows:
        cells = [f"{r['masks'][k]:.3f} / {r['ball'][k]:.3f}" for k, _, _ in DISTANCES]
        lines.append(f"| {r['reference']} | {r['masks']['cases']} {r['setting']} | " + " | ".join(cells) + " |")
    return lines + [""]


def _diffusion(summary: dict) -> list:
    """Scars painted by the generator."""
    lines = []
    dif = summary.get("diffusion")
    if dif:
        lines += ["## Scar synthesis (lesion-focused diffusion, tiny config)", "",
                  f"Scar / remote myocardium brightness of the training scars: {dif['train_ratio']:.2f}. "
                  "Painted scars below (the default sampler, DPM-Solver++); `synthesis_montage.png` shows them.",
                  "",
                  "| case | setting | scar mL | scar / remote | voxels outside the mask unchanged | calls | s |",
                  "|---|---|---|---|---|---|---|"]
        for r in dif["painted"]:
            lines.append(f"| {r['case']} | {r['setting']} | {r['scar_ml']:.1f} | {r['ratio']:.2f} | "
                         f"{'yes' if r['outside_unchanged'] else 'NO'} | {r['calls']} | {r['seconds']:.1f} |")
        lines.append("")
    return lines


def _fidelity(summary: dict) -> list:
    """How close repainted scars come to the real ones (``claim evaluate-synthesis``)."""
    from ..fidelity import METRICS
    from .fidelity import METHODS, TITLES

    rows = summary.get("synthesis_fidelity")
    if not rows:
        return []
    lines = ["## Synthesis fidelity: real scars repainted (`claim evaluate-synthesis`)", "",
             "Each case's own scar and MVO repainted; median |error| over cases, in SDs of the case's remote "
             "myocardium (texture: relative). Lower is closer to the real voxels.", ""]
    for name, r in rows.items():
        lines += [f"**{name}** ({len(r['cases'])} cases; `{r['folder']}/fidelity.png`)", "",
                  "| method | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
        for m in METHODS:
            p = r["pooled"][m]
            lines.append(f"| {TITLES[m]} | " + " | ".join("-" if p[k] is None else f"{p[k]:.3f}" for k in METRICS)
                         + " |")
        beats = [k for k, v in r["own_histogram_beats_both_fills"].items() if v]
        lines += ["", f"With its own histogram the generator beats both fills on: {', '.join(beats) or 'none'}.", ""]
    return lines


def _segmentation(summary: dict) -> list:
    """nnU-Net on the held-out phantoms."""
    lines = []
    seg = summary.get("segmentation")
    if seg:
        lines += ["## Scar segmentation (nnU-Net v2)", "",
                  (f"nnU-Net 2d trained here on {len(seg['training_cases'])} phantoms with CLAIM's one-minute demo "
                   "schedule (nnUNetTrainerCLAIMDemo: on clinical-contrast phantoms a minute of CPU training learns "
                   "little or nothing, Dice near 0; "
                   "`claim experiment --quick` and `claim train-seg` train longer)" if seg["trained_here"]
                   else f"Model: `{seg['model']}`") + ". Held-out cases below; scar per AHA segment, truth / "
                  "prediction / difference: `segmentation_bullseye.png`.", "",
                  "| case | Dice cavity | Dice myocardium | Dice scar | scar mL truth | scar mL predicted | s |",
                  "|---|---|---|---|---|---|---|"]
        for r in seg["test"]:
            lines.append(f"| {r['case']} | {r.get('cavity_dice', float('nan')):.3f} | "
                         f"{r.get('myocardium_dice', float('nan')):.3f} | {r.get('scar_dice', float('nan')):.3f} | "
                         f"{r['scar_ml_truth']:.2f} | {r['scar_ml_predicted']:.2f} | {r['seconds']:.1f} |")
        lines.append("")
    return lines


def _joint(summary: dict) -> list:
    """Joint training: segmentability and histogram distance per validation."""
    lines = []
    joint = summary.get("joint")
    if joint:
        lines += ["## Joint training, CLAIM(J)", "",
                  f"{joint['steps']} joint steps (lambda {joint['lambda']:g}): the segmenter's loss on the generator's one-step "
                  "estimate trains the generator, and the generator's images fine-tune the segmenter. Before and "
                  "after: `joint_samples.png`.", "", "| step | segmentability | histogram distance |", "|---|---|---|"]
        for v in joint["validation"]:
            lines.append(f"| {v['step']} | {v['segmentability']:.3f} | {v['histogram_distance']:.4f} |")
        lines.append("")
    return lines


def _run_time(summary: dict) -> list:
    """Seconds per section."""
    lines = []
    lines += [f"Run time: {summary['seconds']['total']:.1f} s (phantom generation {summary['seconds']['phantom']:.1f} s, "
              f"AHA and bull's-eyes {summary['seconds']['aha_and_bullseye']:.1f} s, "
              f"scar thresholds {summary['seconds'].get('scar', 0):.1f} s, "
              f"SMILE {summary['seconds']['smile']:.1f} s, diffusion {summary['seconds']['diffusion']:.1f} s, "
              f"segmentation {summary['seconds']['segmentation']:.1f} s, joint {summary['seconds']['joint']:.1f} s).",
              "", "Montage: `montage.png`. Machine-readable summary: `summary.json`.", ""]
    return lines
