"""Markdown tables of ``results/tissue_models_final.jsonl`` (written by tissue_models.py).

    python benchmarks/validation/studies/tissue_models_table.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "results"
PAIRS = (("lee2009-cooled-2cm-ex-vivo", "lee2009-cooled-2cm-in-vivo"),
         ("song2015-cooled-17g-ex-vivo", "song2015-cooled-17g-in-vivo"),
         ("goldberg1998-cluster-ex-vivo", "goldberg1998-cluster-in-vivo"))


def main(path: Path = RESULTS / "tissue_models_final.jsonl") -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    zone = {(r["variant"], r["experiment"]): r for r in rows if "volume_ml" in r and "vessel_diameter_mm" not in r}
    variants = list(dict.fromkeys(r["variant"] for r in rows if "vessel_diameter_mm" not in r))
    print("| variant | experiment | long mm | short mm | volume mL | energy kJ | roll-offs |")
    print("|---|---|---|---|---|---|---|")
    for (variant, experiment), r in zone.items():
        print(f"| {variant} | {experiment} | {r['long_axis_mm']} | {r['short_axis_mm']} | {r['volume_ml']} | "
              f"{r['energy_kj']} | {r['rolloffs']} |")
    print()
    print("| variant | " + " | ".join(f"{b} / {a} (volume; short axis for clusters)" for a, b in PAIRS) + " |")
    print("|---|" + "---|" * len(PAIRS))
    for variant in variants:
        cells = []
        for ex, inv in PAIRS:
            a, b = zone.get((variant, ex)), zone.get((variant, inv))
            if a is None or b is None:
                cells.append("—")
                continue
            key = "short_axis_mm" if "cluster" in ex else "volume_ml"
            cells.append(f"{b[key]} / {a[key]} = {b[key] / a[key]:.2f}")
        print(f"| {variant} | " + " | ".join(cells) + " |")
    sinks = [r for r in rows if "vessel_diameter_mm" in r]
    if sinks:
        print()
        print("| variant | vessel mm | zone radius toward / away mm | cuff coagulated | viable cuff (paper) |")
        print("|---|---|---|---|---|")
        for r in sinks:
            print(f"| {r['variant']} | {r['vessel_diameter_mm']} | {r['radius_toward_vessel_mm']} / {r['radius_away_mm']} | "
                  f"{r['cuff_ablated_fraction']} | {r['viable_cuff']} ({r['expect_viable_cuff']}) |")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS / "tissue_models_final.jsonl")
