# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Validation: analytic oracles, convergence and published experiments
#
# How do we know the solver is right? Three levels, from the mathematics to the clinic:
#
# 1. **Analytic oracles**: problems with a closed-form solution (`rfasim.analytics`): the potential
#    around a spherical electrode, the steady temperature around a hot sphere in perfused tissue,
#    the decay of a Fourier mode under the Pennes equation.
# 2. **Convergence**: the error against grid spacing on a log-log plot; its slope is the observed
#    order of accuracy.
# 3. **Published experiments and an independent code**: the validation table of
#    `docs/validation.md` (zones measured in ex vivo and in vivo livers) and the comparison with
#    py-pde.
#
# The same checks run in `tests/physics/`. Every problem here is small (at most about 120³ voxels)
# so the notebook runs in about a minute on two cores.

# %%
# %matplotlib inline
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import Image, Markdown, display
from matplotlib.figure import Figure

import rfasim
from rfasim import analytics
from rfasim.generators import ConstantPower
from rfasim.grid import Grid
from rfasim.physics.electric import ElectricProblem
from rfasim.solver import SimulationOptions, TissueState, simulate
from rfasim.sources import ElectrodeRaster, PowerDensitySource
from rfasim.tissue import TissueClass, TissueModel, VaporizationModel, homogeneous_liver

np.set_printoptions(precision=3, suppress=True)

LIVER = homogeneous_liver(perfused=True).classes[TissueClass.LIVER]
SIGMA = 0.333  # S/m, liver-like conductivity


# %% [markdown]
# ## 1. Electric potential between concentric spheres
#
# An inner sphere (radius a = 4 mm) at +0.5 V inside a spherical shell (b = 14 mm) at −0.5 V,
# uniform conductivity σ. The exact potential is `V(r) = V_b + (V_a − V_b)(1/r − 1/b)/(1/a − 1/b)`
# (the 1/r law) and the resistance `R = (1/a − 1/b)/(4πσ)`. `ElectricProblem` solves
# `div(σ grad V) = 0` on the voxel grid with the electrodes as Dirichlet voxels.


# %%
def concentric_spheres(spacing_mm, inner_mm=4.0, outer_mm=14.0):
    grid = Grid.centered(2 * outer_mm + 6 * spacing_mm, spacing_mm)
    x, y, z = grid.voxel_centers_mm()
    radius = np.sqrt(x**2 + y**2 + z**2)
    sigma = np.where(radius < outer_mm + 2 * spacing_mm, SIGMA, 0.0)
    inner = ElectrodeRaster.from_mask("inner", radius <= inner_mm, polarity=0.5)
    shell = (radius >= outer_mm) & (radius < outer_mm + 2 * spacing_mm)
    outer = ElectrodeRaster.from_mask("outer", shell, polarity=-0.5)
    return grid, radius, sigma, [inner, outer]


grid, radius, sigma, electrodes = concentric_spheres(0.5)
solution = ElectricProblem(grid, electrodes, grounded_faces=()).solve(sigma)
exact_r = analytics.concentric_sphere_resistance(SIGMA, 4e-3, 14e-3)
print(f"grid {grid.shape}, {solution.iterations} iterations")
print(
    f"resistance: {solution.impedance_ohm:.2f} Ohm, exact {exact_r:.2f} Ohm "
    f"({100 * (solution.impedance_ohm / exact_r - 1):+.1f} %)"
)

between = (radius > 4.0) & (radius < 14.0)
r_line = np.linspace(4.0, 14.0, 200)
figure = Figure(figsize=(6, 4), layout="constrained")
axes = figure.add_subplot()
axes.plot(
    radius[between], solution.potential_v[between], ".", ms=1, alpha=0.3, label="rfasim voxels"
)
axes.plot(
    r_line,
    analytics.concentric_sphere_potential(r_line * 1e-3, 4e-3, 14e-3, 0.5, -0.5),
    "k",
    label="exact (1/r law)",
)
axes.set(xlabel="radius r (mm)", ylabel="potential V (V)", title="concentric spheres, 0.5 mm grid")
axes.legend()
figure

# %% [markdown]
# ## 2. Steady temperature around a hot sphere in perfused tissue
#
# A sphere (a = 5 mm) held at T₀ = 42 °C in liver perfused at w_b = 0.01 1/s, arterial blood at
# 37 °C. The steady Pennes solution is `T(r) = T_a + (T₀ − T_a)(a/r) exp(−(r − a)/L)` with the
# perfusion length `L = sqrt(k/(w_b ρ_b c_b))`. 42 °C keeps the tissue below the damage onset, so
# perfusion is not shut down. The sphere is modelled as a cooled (isothermal) electrode that
# delivers no power; 15 minutes on a 1 mm grid reach the steady state.

# %%
perfusion = 0.01  # 1/s
tissue = homogeneous_liver().with_class(TissueClass.LIVER, perfusion_rate_per_s=perfusion)
tissue = TissueModel(classes=tissue.classes, vaporization=VaporizationModel(enabled=False))
grid = Grid.centered(40.0, 1.0)
x, y, z = grid.voxel_centers_mm()
radius = np.sqrt(x**2 + y**2 + z**2)
sphere = ElectrodeRaster.from_mask("sphere", radius <= 5.0, cooled=True, coolant_temperature_c=42.0)
result = simulate(
    grid,
    np.full(grid.shape, TissueClass.LIVER, np.uint8),
    ConstantPower(power_w=0.0, duration_s=900.0),
    [sphere],
    tissue=tissue,
)

length = analytics.perfusion_length_m(
    LIVER.thermal_conductivity_w_per_m_k, perfusion, tissue.blood_heat_capacity_j_per_m3_k
)
effective_a = (3 * (radius <= 5.0).sum() / (4 * math.pi)) ** (1 / 3) * 1e-3  # same-volume radius
shell = (radius > 6.5) & (radius < 15.0)
exact_t = analytics.perfused_sphere_temperature(
    radius[shell] * 1e-3, effective_a, 42.0, 37.0, length
)
error = np.abs(result.temperature_c[shell] - exact_t)
print(f"perfusion length L = {length * 1e3:.2f} mm")
print(
    f"|error| between r = 6.5 and 15 mm: max {error.max():.3f} degC, mean {error.mean():.3f} degC "
    f"(of a {42 - 37} degC rise)"
)

r_line = np.linspace(effective_a * 1e3, 19.0, 200)
figure = Figure(figsize=(6, 4), layout="constrained")
axes = figure.add_subplot()
outside = radius > 5.0
axes.plot(
    radius[outside], result.temperature_c[outside], ".", ms=1, alpha=0.3, label="rfasim voxels"
)
axes.plot(
    r_line,
    analytics.perfused_sphere_temperature(r_line * 1e-3, effective_a, 42.0, 37.0, length),
    "k",
    label="exact steady Pennes",
)
axes.set(
    xlabel="radius r (mm)",
    ylabel="temperature (degC)",
    title="hot sphere in perfused liver, 1 mm grid",
)
axes.legend()
figure


# %% [markdown]
# ## 3. Decay of a Fourier mode
#
# Start from 37 °C + 10 K × sin(πx/L) sin(πy/L) sin(πz/L) in a box of edge L = 20 mm whose faces are
# held at 37 °C, with no power. Under Pennes the mode keeps its shape and its amplitude decays as
# `exp(−(D k² + P) t)`: D the thermal diffusivity, k = √3 π/L the wavenumber and P the perfusion
# decay rate. We measure the amplitude after several times on a 1 mm grid.


# %%
def fourier_mode(points, duration_s, step_per_mm2_s=1.0):
    """Measured and exact amplitude factor of the mode after duration_s, on points^3 nodes."""
    length_mm = 20.0
    spacing = length_mm / (points - 1)
    grid = Grid((points,) * 3, spacing, (0.0, 0.0, 0.0))
    x, y, z = (c * 1e-3 for c in grid.voxel_centers_mm())
    wavenumber = math.pi / (length_mm * 1e-3)
    mode = np.sin(wavenumber * x) * np.sin(wavenumber * y) * np.sin(wavenumber * z)
    tissue = TissueModel(vaporization=VaporizationModel(enabled=False))
    state = TissueState.at_rest(grid, tissue.body_temperature_c)
    state.temperature_c[...] = tissue.body_temperature_c + 10.0 * mode
    result = simulate(
        grid,
        np.full(grid.shape, TissueClass.LIVER, np.uint8),
        source=PowerDensitySource(np.zeros(grid.shape)),
        duration_s=duration_s,
        tissue=tissue,
        initial_state=state,
        options=SimulationOptions(
            time_step_safety=0.5, maximum_time_step_s=step_per_mm2_s * spacing**2
        ),
    )
    rho_c = LIVER.density_kg_per_m3 * LIVER.specific_heat_j_per_kg_k
    diffusivity = LIVER.thermal_conductivity_w_per_m_k / rho_c
    decay = LIVER.perfusion_rate_per_s * tissue.blood_heat_capacity_j_per_m3_k / rho_c
    exact = float(
        analytics.pennes_mode_decay(duration_s, wavenumber * math.sqrt(3), diffusivity, decay)
    )
    inside = mode > 0.5
    measured = (result.temperature_c - tissue.body_temperature_c)[inside] / (10.0 * mode[inside])
    return float(measured.mean()), exact, float(np.max(np.abs(measured - exact)) / exact)


times = [15.0, 30.0, 60.0, 120.0]
decay = [fourier_mode(21, t) for t in times]
for t, (measured, exact, relative) in zip(times, decay, strict=True):
    print(
        f"t = {t:5.0f} s: amplitude {measured:.4f}, exact {exact:.4f}, max relative error {relative:.2e}"
    )

t_line = np.linspace(0.0, 130.0, 200)
_, exact_60, _ = decay[2]
rate = -math.log(exact_60) / 60.0
figure = Figure(figsize=(6, 4), layout="constrained")
axes = figure.add_subplot()
axes.plot(t_line, np.exp(-rate * t_line), "k", label="exact exp(-(D k^2 + P) t)")
axes.plot([0.0, *times], [1.0, *(m for m, _, _ in decay)], "o", label="rfasim, 1 mm grid")
axes.set(xlabel="time (s)", ylabel="mode amplitude / initial", title="Fourier-mode decay")
axes.legend()
figure

# %% [markdown]
# ## 4. Convergence
#
# Refine the grid and watch the error fall. On a log-log plot of error against spacing h the slope
# is the observed order p (error ∝ hᵖ):
#
# * **Fourier mode** (smooth field, time step scaled with h²): second order, p ≈ 2.
# * **Sphere resistance**: the voxelised spheres have staircase surfaces, which limits the
#   electric solution to about first order, p ≈ 1.

# %%
mode_spacings, mode_errors = [], []
for points in (11, 21, 31):
    mode_spacings.append(20.0 / (points - 1))
    mode_errors.append(fourier_mode(points, 60.0, step_per_mm2_s=0.05)[2])

sphere_spacings, sphere_errors = [1.0, 0.5, 0.25], []
for spacing in sphere_spacings:
    grid, _, sigma, electrodes = concentric_spheres(spacing)
    resistance = ElectricProblem(grid, electrodes, grounded_faces=()).solve(sigma).impedance_ohm
    sphere_errors.append(abs(resistance - exact_r) / exact_r)

figure = Figure(figsize=(9, 4), layout="constrained")
for axes, h, error, title in zip(
    figure.subplots(1, 2),
    (mode_spacings, sphere_spacings),
    (mode_errors, sphere_errors),
    ("Fourier-mode amplitude (60 s)", "concentric-sphere resistance"),
    strict=True,
):
    slope = np.polyfit(np.log(h), np.log(error), 1)[0]
    axes.loglog(h, error, "o-", label=f"rfasim: slope {slope:.2f}")
    reference_order = 2 if "Fourier" in title else 1
    axes.loglog(
        h,
        error[0] * (np.asarray(h) / h[0]) ** reference_order,
        "k--",
        lw=1,
        label=f"order {reference_order} reference",
    )
    axes.set(xlabel="grid spacing h (mm)", ylabel="relative error", title=title)
    axes.legend()
    print(f"{title}: errors {np.round(error, 5)}, observed order {slope:.2f}")
figure

# %% [markdown]
# ## 5. Published experiments: the validation table
#
# `benchmarks/validation/run_validation.py` reproduces published ablations (probe and protocol of
# the paper, no per-experiment tuning) and writes the table and figures that `docs/validation.md`
# discusses; they are committed in `benchmarks/validation/results/`. They come with the source
# checkout, not with an installed package, so this section looks for them next to the `rfasim`
# package and says so when they are missing. Errors are (predicted − measured)/measured in %.

# %%
RESULTS = Path(rfasim.__file__).resolve().parent.parent / "benchmarks" / "validation" / "results"
have_results = (RESULTS / "validation_table.csv").is_file()
if have_results:
    validation = pd.read_csv(RESULTS / "validation_table.csv")
    shown = validation[
        [
            "experiment",
            "setting",
            "probe",
            "duration_s",
            "measured_long_axis_mm",
            "predicted_long_axis_mm",
            "error_long_axis_pct",
            "measured_short_axis_mm",
            "predicted_short_axis_mm",
            "error_short_axis_pct",
            "measured_volume_ml",
            "predicted_volume_ml",
            "error_volume_pct",
        ]
    ]
    display(shown.set_index("experiment").round(1))
else:
    print("benchmarks/validation/results not found (installed package without the source tree)")

# %%
if have_results:
    display(Markdown("**Predicted against measured** (`predicted_vs_measured.png`)"))
    display(Image(filename=str(RESULTS / "predicted_vs_measured.png"), width=700))
    display(Markdown("**Heat sink**: zone next to a vessel (`heat_sink.png`)"))
    display(Image(filename=str(RESULTS / "heat_sink.png"), width=700))

# %% [markdown]
# ### Re-running one experiment on a coarse grid
#
# The corpus is data: one TOML file per published experiment in
# `benchmarks/validation/experiments/`, each number with the sentence it was quoted from. The
# harness next to it (`benchmarks/validation/harness.py`, not part of the installed package)
# builds the experiment with the case machinery and runs it with `rfasim.simulate`. The table
# used a 1.5 mm grid; here we run the Lee 2009 ex vivo experiment (cooled 2 cm tip, 12 minutes)
# on a **2.5 mm grid** to keep it fast. The difference from the committed row shows how much a
# coarse grid moves the zone: use ≤ 1.5 mm for numbers you quote.

# %%
HARNESS = RESULTS.parent
if have_results:
    import sys

    sys.path.insert(0, str(HARNESS))
    from corpus import load_corpus
    from harness import errors_pct, run_experiment

    experiment = load_corpus()["lee2009-cooled-2cm-ex-vivo"]
    rerun = run_experiment(experiment, spacing_mm=2.5).prediction
    print(f"{experiment.source.citation}; wall {rerun.wall_s:.1f} s")
    for quantity, measurement in experiment.measured.items():
        print(f"  {quantity}: measured {measurement.value} ({measurement.quote!r}), ", end="")
        print(
            f"2.5 mm {rerun.value(quantity):.1f} ({errors_pct(experiment, rerun)[quantity]:+.0f} %)"
        )
    row = validation.set_index("experiment").loc["lee2009-cooled-2cm-ex-vivo"]
    print(
        f"committed table ({row.spacing_mm} mm): long {row.predicted_long_axis_mm} mm, "
        f"short {row.predicted_short_axis_mm} mm, volume {row.predicted_volume_ml} mL"
    )

# %% [markdown]
# ### An independent code: py-pde
#
# `compare_with_py_pde` (`benchmarks/validation/pypde_comparison.py`) solves the same Pennes
# problem (perfused liver, fixed Gaussian power density) in rfasim and in
# [py-pde](https://py-pde.readthedocs.io) and compares the temperature fields. Here on a small box
# (30 mm, 1.5 mm grid, 2 minutes of heating); the committed comparison (`pypde_comparison.json`)
# used a 40 mm box at 1 mm.

# %%
if have_results:
    from pypde_comparison import compare_with_py_pde

    comparison = compare_with_py_pde(extent_mm=30.0, spacing_mm=1.5, duration_s=120.0)
    print(f"peak temperature {comparison.peak_temperature_c:.2f} degC")
    print(
        f"max |T_rfasim - T_py-pde| = {comparison.max_abs_difference_c:.3f} degC "
        f"(central half {comparison.core_max_abs_difference_c:.3f} degC)"
    )
    print(
        f"{comparison.isotherm_c:g} degC isotherm: rfasim {comparison.rfasim_volume_ml:.3f} mL, "
        f"py-pde {comparison.pypde_volume_ml:.3f} mL"
    )
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(comparison.coordinates_mm, comparison.rfasim_profile_c, "o", ms=4, label="rfasim")
    axes.plot(comparison.coordinates_mm, comparison.pypde_profile_c, "-", label="py-pde")
    axes.set(
        xlabel="x through the centre (mm)", ylabel="temperature (degC)", title="rfasim vs py-pde"
    )
    axes.legend()
    display(figure)

# %%
if have_results:
    committed = json.loads((RESULTS / "pypde_comparison.json").read_text())
    print(json.dumps(committed, indent=1)[:1500])
