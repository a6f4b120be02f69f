"""Validation against published ablation experiments, a heat-sink study and py-pde.

The reusable pieces of ``benchmarks/validation`` (issue 8): the two tissue sets (ex vivo and
in vivo), the published experiments as data (:data:`EXPERIMENTS`), :func:`run_experiment`, the
zone axes measured on a voxel mask (:func:`zone_axes`), the vessel heat-sink study
(:func:`run_heat_sink`) and the comparison with an independent finite-difference solver
(:func:`compare_with_py_pde`).  ``benchmarks/validation/run_validation.py`` turns them into the
table and figures of ``docs/validation.md``.

Nothing here is tuned per experiment: every run uses the catalog probe, the catalog generator
protocol (with the paper's duration) and one of the two tissue sets.

Examples
--------
>>> sorted(EXPERIMENTS)[:2]
['goldberg1998-cluster-ex-vivo', 'goldberg1998-cluster-in-vivo']
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from rfasim.generators import (
    ConstantPower,
    Generator,
    ImpedanceControlled,
    RampSchedule,
    TemperatureControlled,
)
from rfasim.grid import Grid
from rfasim.probes import ProbePlacement, get_probe_model, rasterize_probes
from rfasim.solver import SimulationOptions, SimulationResult, simulate
from rfasim.sources import PowerDensitySource
from rfasim.tissue import (
    ArrheniusParameters,
    TissueClass,
    TissueModel,
    VaporizationModel,
    homogeneous_liver,
)

#: Initial (and far-field) temperature of ex vivo experiments (degC): livers are ablated at room
#: temperature (20-25 degC in the papers that state it); one value for every ex vivo run.
EX_VIVO_INITIAL_TEMPERATURE_C = 22.0

#: Arrhenius damage at which tissue counts as coagulated (Omega = 1: 63 % of the protein denatured).
DAMAGE_THRESHOLD = 1.0

#: Isotherm (degC) of the secondary, temperature-based zone criterion.
ISOTHERM_C = 50.0


# ---------------------------------------------------------------------------------------------
# Tissue sets
# ---------------------------------------------------------------------------------------------
def ex_vivo_tissue() -> TissueModel:
    """Excised liver: no perfusion, tissue and far field at :data:`EX_VIVO_INITIAL_TEMPERATURE_C`.

    Examples
    --------
    >>> model = ex_vivo_tissue()
    >>> model.body_temperature_c, model.classes[TissueClass.LIVER].perfusion_rate_per_s
    (22.0, 0.0)
    """
    return replace(homogeneous_liver(perfused=False), body_temperature_c=EX_VIVO_INITIAL_TEMPERATURE_C)


def in_vivo_tissue() -> TissueModel:
    """Living liver: Pennes perfusion on, 37 degC."""
    return homogeneous_liver(perfused=True)


def tissue_for(setting: str) -> TissueModel:
    """The tissue set of ``"ex vivo"`` or ``"in vivo"`` experiments."""
    if setting == "ex vivo":
        return ex_vivo_tissue()
    if setting == "in vivo":
        return in_vivo_tissue()
    raise ValueError(f"setting must be 'ex vivo' or 'in vivo', got {setting!r}")


# ---------------------------------------------------------------------------------------------
# Generators from the catalog
# ---------------------------------------------------------------------------------------------
def generator_for(model_name: str, duration_s: float | None = None) -> Generator:
    """The catalog's default generator protocol of a probe, optionally with another duration.

    Parameters
    ----------
    model_name : str
        Catalog name of the probe.
    duration_s : float, optional
        Ablation time (s); default the catalog's.

    Examples
    --------
    >>> generator = generator_for("cooltip-17g-2cm", 600.0)
    >>> generator.mode, generator.duration_s, generator.power_w
    ('impedance', 600.0, 200.0)
    """
    settings = dict(get_probe_model(model_name).generator)
    mode = settings.pop("mode")
    if duration_s is not None:
        settings["duration_s"] = float(duration_s)
    classes: dict[str, type[Generator]] = {
        "impedance": ImpedanceControlled,
        "ramp": RampSchedule,
        "temperature": TemperatureControlled,
        "constant": ConstantPower,
        "constant-power": ConstantPower,
    }
    if mode not in classes:
        raise ValueError(f"probe {model_name!r}: generator mode {mode!r} has no validation mapping")
    return classes[mode](**settings)


# ---------------------------------------------------------------------------------------------
# Experiments
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measurement:
    """Measured ablation zone (means as published; ``None`` where the paper gives none).

    Parameters
    ----------
    long_axis_mm : float or None
        Diameter along the probe (mm).
    short_axis_mm : float or None
        Diameter across the probe (mm).
    volume_ml : float or None
        Zone volume (mL = cm^3).
    """

    long_axis_mm: float | None = None
    short_axis_mm: float | None = None
    volume_ml: float | None = None


@dataclass(frozen=True)
class Experiment:
    """One published experiment and how rfasim reproduces it.

    Parameters
    ----------
    name : str
        Key in :data:`EXPERIMENTS`.
    reference : str
        Authors, year, journal.
    doi : str
        DOI of the paper.
    setting : str
        ``"ex vivo"`` (excised bovine liver) or ``"in vivo"`` (porcine liver).
    probe : str
        Catalog probe model used for the reproduction.
    duration_s : float
        Ablation time (s).
    measured : Measurement
        What the paper reports.
    criterion : str
        What the measured boundary corresponds to in rfasim: ``"arrhenius"`` (white coagulation
        at gross pathology: damage >= 1).
    deployment_diameter_mm : float, optional
        Tine deployment of multi-tine probes (mm).
    protocol_from_paper : bool
        False where the device or protocol are not stated in the source we could read and the
        catalog defaults stand in; such rows are reported but kept out of the agreement summary.
    notes : str
        What was assumed.
    """

    name: str
    reference: str
    doi: str
    setting: str
    probe: str
    duration_s: float
    measured: Measurement
    criterion: str = "arrhenius"
    deployment_diameter_mm: float | None = None
    protocol_from_paper: bool = True
    notes: str = ""


_LEE_2009 = "Lee JM et al. 2009, Cardiovasc Intervent Radiol 32(6):1235-1240"
_GOLDBERG_1998 = "Goldberg SN et al. 1998, Radiology 209(2):371-379"
_SONG_2015 = "Song KD et al. 2015, Br J Radiol 88(1050):20140497"
_ISHIKAWA_2013 = "Ishikawa T et al. 2013, World J Gastroenterol 19(8):1278-1282"

#: The published experiments reproduced by :func:`run_experiment`.
EXPERIMENTS: dict[str, Experiment] = {
    experiment.name: experiment
    for experiment in (
        Experiment(
            name="lee2009-cooled-2cm-ex-vivo",
            reference=_LEE_2009,
            doi="10.1007/s00270-009-9600-0",
            setting="ex vivo",
            probe="cooltip-17g-2cm",
            duration_s=720.0,
            measured=Measurement(long_axis_mm=30.1, short_axis_mm=26.2, volume_ml=11.08),
            notes="internally cooled electrode, 2 cm tip, 12 min, explanted bovine liver (n=15)",
        ),
        Experiment(
            name="lee2009-cooled-2cm-in-vivo",
            reference=_LEE_2009,
            doi="10.1007/s00270-009-9600-0",
            setting="in vivo",
            probe="cooltip-17g-2cm",
            duration_s=720.0,
            measured=Measurement(long_axis_mm=26.2, short_axis_mm=20.0, volume_ml=5.76),
            notes="internally cooled electrode, 2 cm tip, 12 min, living porcine liver (n=8)",
        ),
        Experiment(
            name="song2015-cooled-17g-ex-vivo",
            reference=_SONG_2015,
            doi="10.1259/bjr.20140497",
            setting="ex vivo",
            probe="cooltip-17g-3cm",
            duration_s=720.0,
            measured=Measurement(volume_ml=23.86),
            protocol_from_paper=False,
            notes="17G internally cooled electrode, explanted bovine liver (n=20); tip length and "
            "time not in the abstract we could read: 3 cm and 12 min assumed",
        ),
        Experiment(
            name="song2015-cooled-17g-in-vivo",
            reference=_SONG_2015,
            doi="10.1259/bjr.20140497",
            setting="in vivo",
            probe="cooltip-17g-3cm",
            duration_s=720.0,
            measured=Measurement(volume_ml=7.79),
            protocol_from_paper=False,
            notes="17G internally cooled electrode, living porcine liver (n=10); tip length and "
            "time not in the abstract we could read: 3 cm and 12 min assumed",
        ),
        Experiment(
            name="goldberg1998-cluster-ex-vivo",
            reference=_GOLDBERG_1998,
            doi="10.1148/radiology.209.2.9807561",
            setting="ex vivo",
            probe="cooltip-cluster-2.5cm",
            duration_s=900.0,
            measured=Measurement(short_axis_mm=47.0),
            notes="three cooled needles 5 mm apart, 15 min, ex vivo liver; 'diameter of coagulation' "
            "compared with the short axis; tip length of this group not in the abstract (1.5-3 cm "
            "studied): the catalog's 2.5 cm cluster",
        ),
        Experiment(
            name="goldberg1998-cluster-in-vivo",
            reference=_GOLDBERG_1998,
            doi="10.1148/radiology.209.2.9807561",
            setting="in vivo",
            probe="cooltip-cluster-2.5cm",
            duration_s=720.0,
            measured=Measurement(short_axis_mm=31.0),
            notes="three cooled needles 5 mm apart, 12 min, in vivo porcine liver; diameter as short "
            "axis; 2.5 cm tips assumed (catalog cluster)",
        ),
        Experiment(
            name="ishikawa2013-expandable-ex-vivo",
            reference=_ISHIKAWA_2013,
            doi="10.3748/wjg.v19.i8.1278",
            setting="ex vivo",
            probe="leveen-3cm",
            duration_s=900.0,
            measured=Measurement(volume_ml=17.3),
            protocol_from_paper=False,
            notes="expandable (multi-tine) electrode, bovine liver, no infusion arm; device model, "
            "array size and power protocol not in the abstract we could read: the catalog's "
            "LeVeen 3 cm array and ramp protocol stand in",
        ),
    )
}


# ---------------------------------------------------------------------------------------------
# Zone measures
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ZoneAxes:
    """Size of a zone mask.

    Attributes
    ----------
    long_axis_mm : float
        Extent along the probe axis (mm).
    mid_axis_mm, short_axis_mm : float
        Extents across the probe along the two principal axes of the zone's cross-section
        (mm), larger first.
    volume_ml : float
        Voxel-count volume (mL).
    """

    long_axis_mm: float
    mid_axis_mm: float
    short_axis_mm: float
    volume_ml: float


def zone_axes(mask: np.ndarray, grid: Grid, axis_direction: np.ndarray) -> ZoneAxes:
    """Axes and volume of a zone mask, along and across the probe.

    Each extent is the span of voxel centres along the direction plus one voxel (a one-voxel
    zone is one spacing wide).  The two lateral directions are the principal axes of the
    voxel centres projected onto the plane perpendicular to ``axis_direction``.

    Parameters
    ----------
    mask : ndarray of bool
        Zone voxels on ``grid``.
    grid : Grid
    axis_direction : array_like, shape (3,)
        Probe axis (any length).

    Returns
    -------
    ZoneAxes
        All zero for an empty mask.

    Examples
    --------
    >>> grid = Grid.centered(20.0, 1.0)
    >>> x, y, z = grid.voxel_centers_mm()
    >>> box = (abs(x) < 3) & (abs(y) < 2) & (abs(z) < 5)
    >>> axes = zone_axes(box, grid, [0, 0, 1])
    >>> axes.long_axis_mm, axes.mid_axis_mm, axes.short_axis_mm
    (10.0, 6.0, 4.0)
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        return ZoneAxes(0.0, 0.0, 0.0, 0.0)
    direction = np.asarray(axis_direction, float)
    direction = direction / np.linalg.norm(direction)
    points = grid.index_to_world(np.argwhere(mask))
    along = points @ direction
    lateral = points - np.outer(along, direction)
    centred = lateral - lateral.mean(axis=0)
    # Principal axes of the cross-section (the eigenvector along the probe has eigenvalue ~0).
    _, vectors = np.linalg.eigh(centred.T @ centred)
    extents = []
    for k in (2, 1):
        projection = centred @ vectors[:, k]
        extents.append(float(projection.max() - projection.min()) + grid.spacing_mm)
    spacing = grid.spacing_mm
    return ZoneAxes(
        long_axis_mm=float(along.max() - along.min()) + spacing,
        mid_axis_mm=max(extents),
        short_axis_mm=min(extents),
        volume_ml=float(mask.sum()) * grid.voxel_volume_ml,
    )


def damage_zone(result: SimulationResult) -> np.ndarray:
    """Coagulation mask: Arrhenius damage >= :data:`DAMAGE_THRESHOLD`, tissue voxels only."""
    return (result.damage >= DAMAGE_THRESHOLD) & (result.material != TissueClass.VESSEL)


def isotherm_zone(result: SimulationResult, threshold_c: float = ISOTHERM_C) -> np.ndarray:
    """Voxels whose peak temperature reached ``threshold_c`` (degC), vessels excluded."""
    return (result.peak_temperature_c >= threshold_c) & (result.material != TissueClass.VESSEL)


# ---------------------------------------------------------------------------------------------
# Running an experiment
# ---------------------------------------------------------------------------------------------
def centred_placement(probe: str, deployment_diameter_mm: float | None = None) -> ProbePlacement:
    """The probe pointing along -z with its active part centred on the origin."""
    direction = np.array([0.0, 0.0, -1.0])
    trial = ProbePlacement(probe, tip_mm=[0.0, 0.0, 0.0], direction=direction,
                           deployment_diameter_mm=deployment_diameter_mm)
    points = trial.geometry().active_points_mm
    centre = 0.5 * (points.min(axis=0) + points.max(axis=0))
    return ProbePlacement(probe, tip_mm=-centre, direction=direction,
                          deployment_diameter_mm=deployment_diameter_mm)


@dataclass
class ExperimentResult:
    """Prediction for one experiment.

    Attributes
    ----------
    experiment : Experiment
    spacing_mm : float
        Grid spacing used (mm).
    predicted : ZoneAxes
        Zone of the experiment's criterion (Arrhenius damage >= 1).
    isotherm : ZoneAxes
        The 50 degC isotherm zone, for comparison.
    energy_j : float
        Electrical energy delivered (J).
    rolloffs : int
        Generator roll-off events.
    wall_s : float
        Wall time of the simulation (s).
    simulation : SimulationResult or None
        Kept when asked for (figures).
    """

    experiment: Experiment
    spacing_mm: float
    predicted: ZoneAxes
    isotherm: ZoneAxes
    energy_j: float
    rolloffs: int
    wall_s: float
    simulation: SimulationResult | None = field(default=None, repr=False)

    def errors_pct(self) -> dict[str, float | None]:
        """Relative error (predicted - measured) / measured in % per measured quantity."""
        measured = self.experiment.measured
        pairs = {
            "long_axis": (self.predicted.long_axis_mm, measured.long_axis_mm),
            "short_axis": (self.predicted.short_axis_mm, measured.short_axis_mm),
            "volume": (self.predicted.volume_ml, measured.volume_ml),
        }
        return {
            key: None if truth is None else 100.0 * (value - truth) / truth
            for key, (value, truth) in pairs.items()
        }


def run_experiment(
    name: str,
    spacing_mm: float = 1.5,
    extent_mm: float = 80.0,
    keep_simulation: bool = False,
    tissue: TissueModel | None = None,
) -> ExperimentResult:
    """Reproduce one published experiment in rfasim.

    Parameters
    ----------
    name : str
        Key of :data:`EXPERIMENTS`.
    spacing_mm : float
        Grid spacing (mm).
    extent_mm : float
        Edge of the cubic liver block (mm); its faces are the return electrode (0 V) and are
        held at the initial temperature.
    keep_simulation : bool
        Keep the full :class:`~rfasim.solver.SimulationResult` (for figures).
    tissue : TissueModel, optional
        Replace the experiment's tissue set (sensitivity studies only; the validation table
        always uses :func:`tissue_for`).

    Returns
    -------
    ExperimentResult
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(sorted(EXPERIMENTS))}")
    experiment = EXPERIMENTS[name]
    grid = Grid.centered(extent_mm, spacing_mm)
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    placement = centred_placement(experiment.probe, experiment.deployment_diameter_mm)
    electrodes = rasterize_probes([placement], grid, material)
    generator = generator_for(experiment.probe, experiment.duration_s)
    start = time.perf_counter()
    model = tissue if tissue is not None else tissue_for(experiment.setting)
    result = simulate(grid, material, generator, electrodes, tissue=model)
    wall = time.perf_counter() - start
    direction = placement.unit_direction
    return ExperimentResult(
        experiment=experiment,
        spacing_mm=spacing_mm,
        predicted=zone_axes(damage_zone(result), grid, direction),
        isotherm=zone_axes(isotherm_zone(result), grid, direction),
        energy_j=float(result.energy.electrical_j),
        rolloffs=result.rolloffs,
        wall_s=wall,
        simulation=result if keep_simulation else None,
    )


# ---------------------------------------------------------------------------------------------
# Heat sink
# ---------------------------------------------------------------------------------------------
@dataclass
class HeatSinkResult:
    """Zone next to a straight vessel parallel to a cooled needle.

    Attributes
    ----------
    vessel_diameter_mm : float or None
        None: no vessel (reference).
    vessel_axis_offset_mm : float
        Distance between the needle axis and the vessel axis (mm), along +x.
    radius_toward_vessel_mm, radius_away_mm : float
        Zone radius in the mid-plane of the active tip along +x (towards the vessel) and -x,
        measured from the needle axis to the outer face of the last zone voxel (mm).
    indentation_mm : float
        ``radius_away_mm - radius_toward_vessel_mm``.
    cuff_ablated_fraction : float
        Fraction of the liver voxels touching the vessel (face neighbours, mid-plane) that are
        coagulated: 1 means the zone wraps the vessel; viable perivascular tissue lowers it
        (the heat-sink sign Lu et al. 2002 scored at histology).  NaN without a vessel.
    zone : ZoneAxes
    slice_damage : ndarray
        Damage in the mid-plane (x, y) for figures.
    slice_material : ndarray
        Material codes in that plane.
    extent_mm : tuple of float
        (x_min, x_max, y_min, y_max) of the slice, for ``imshow``.
    """

    vessel_diameter_mm: float | None
    vessel_axis_offset_mm: float
    radius_toward_vessel_mm: float
    radius_away_mm: float
    indentation_mm: float
    cuff_ablated_fraction: float
    zone: ZoneAxes
    slice_damage: np.ndarray = field(repr=False)
    slice_material: np.ndarray = field(repr=False)
    extent_mm: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


def vessel_cuff(material_plane: np.ndarray) -> np.ndarray:
    """Liver pixels of a 2D material plane that share an edge with a vessel pixel.

    Examples
    --------
    >>> plane = np.full((5, 5), int(TissueClass.LIVER))
    >>> plane[2, 2] = TissueClass.VESSEL
    >>> int(vessel_cuff(plane).sum())
    4
    """
    vessel = material_plane == TissueClass.VESSEL
    near = np.zeros_like(vessel)
    near[1:, :] |= vessel[:-1, :]
    near[:-1, :] |= vessel[1:, :]
    near[:, 1:] |= vessel[:, :-1]
    near[:, :-1] |= vessel[:, 1:]
    return near & (material_plane == TissueClass.LIVER)


def run_heat_sink(
    vessel_diameter_mm: float | None,
    wall_distance_mm: float = 6.0,
    spacing_mm: float = 1.0,
    extent_mm: float = 56.0,
    probe: str = "cooltip-17g-2cm",
    duration_s: float = 720.0,
) -> HeatSinkResult:
    """Cooled needle in perfused liver next to a straight vessel (``TissueClass.VESSEL`` cylinder).

    Parameters
    ----------
    vessel_diameter_mm : float or None
        Vessel lumen diameter (mm); None runs the reference without a vessel.
    wall_distance_mm : float
        Distance from the needle axis to the near vessel wall (mm); the same for every calibre,
        so that only the calibre changes.
    spacing_mm, extent_mm : float
        Grid spacing and box edge (mm).
    probe : str
        Catalog probe (default the 2 cm Cool-tip needle, whose in vivo zone fits a 56 mm box).
    duration_s : float
        Ablation time (s), catalog impedance-controlled protocol.

    Returns
    -------
    HeatSinkResult
    """
    grid = Grid.centered(extent_mm, spacing_mm)
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    x, y, _ = grid.voxel_centers_mm()
    offset = 0.0
    if vessel_diameter_mm is not None:
        radius = 0.5 * vessel_diameter_mm
        offset = wall_distance_mm + radius
        lumen = np.broadcast_to((x - offset) ** 2 + y**2 <= radius**2, grid.shape)
        if not lumen.any():
            raise ValueError(f"a {vessel_diameter_mm} mm vessel holds no voxel at {spacing_mm} mm spacing")
        material[lumen] = TissueClass.VESSEL
    placement = centred_placement(probe)
    electrodes = rasterize_probes([placement], grid, material)
    result = simulate(grid, material, generator_for(probe, duration_s), electrodes, tissue=in_vivo_tissue())
    zone = damage_zone(result)
    axes_x, axes_y, axes_z = grid.axis_coordinates_mm()
    k = int(np.argmin(np.abs(axes_z)))
    j = int(np.argmin(np.abs(axes_y)))
    row = zone[:, j, k]
    half = 0.5 * spacing_mm
    toward = axes_x[(axes_x >= 0) & row]
    away = axes_x[(axes_x <= 0) & row]
    radius_toward = float(toward.max()) + half if toward.size else 0.0
    radius_away = float(-away.min()) + half if away.size else 0.0
    plane_zone = zone[:, :, k]
    cuff = vessel_cuff(result.material[:, :, k])
    cuff_fraction = float((plane_zone & cuff).sum() / cuff.sum()) if cuff.any() else math.nan
    return HeatSinkResult(
        vessel_diameter_mm=vessel_diameter_mm,
        vessel_axis_offset_mm=offset,
        radius_toward_vessel_mm=radius_toward,
        radius_away_mm=radius_away,
        indentation_mm=radius_away - radius_toward,
        cuff_ablated_fraction=cuff_fraction,
        zone=zone_axes(zone, grid, placement.unit_direction),
        slice_damage=result.damage[:, :, k].copy(),
        slice_material=result.material[:, :, k].copy(),
        extent_mm=(axes_x[0] - half, axes_x[-1] + half, axes_y[0] - half, axes_y[-1] + half),
    )


# ---------------------------------------------------------------------------------------------
# Independent code: py-pde
# ---------------------------------------------------------------------------------------------
@dataclass
class PyPdeComparison:
    """rfasim against py-pde on the same Pennes problem.

    Attributes
    ----------
    max_abs_difference_c : float
        Largest |T_rfasim - T_py-pde| over the grid at the end (degC), py-pde with its adaptive
        Runge-Kutta stepper (or the fixed step asked for).
    same_step_max_abs_difference_c : float
        The same against py-pde's forward Euler at rfasim's own time step (degC): what is left
        is the code and the boundary, not the time discretisation.
    core_max_abs_difference_c : float
        Largest difference in the central half of the box (degC), away from the two codes'
        different boundary placements.
    rfasim_time_step_s : float
        rfasim's explicit step (s).
    peak_temperature_c : float
        Hottest temperature (rfasim) (degC).
    rfasim_volume_ml, pypde_volume_ml : float
        Volume inside the isotherm (mL).
    volume_difference_pct : float
        (rfasim - py-pde) / py-pde in %.
    isotherm_c : float
    coordinates_mm, rfasim_profile_c, pypde_profile_c : ndarray
        Temperature along x through the centre (for figures).
    rfasim_wall_s, pypde_wall_s : float
        Wall times (s).
    """

    max_abs_difference_c: float
    same_step_max_abs_difference_c: float
    core_max_abs_difference_c: float
    rfasim_time_step_s: float
    peak_temperature_c: float
    rfasim_volume_ml: float
    pypde_volume_ml: float
    volume_difference_pct: float
    isotherm_c: float
    coordinates_mm: np.ndarray = field(repr=False)
    rfasim_profile_c: np.ndarray = field(repr=False)
    pypde_profile_c: np.ndarray = field(repr=False)
    rfasim_wall_s: float = 0.0
    pypde_wall_s: float = 0.0


def gaussian_power_density(grid: Grid, total_power_w: float, width_mm: float) -> np.ndarray:
    """Isotropic Gaussian power density (W/m^3) centred on the origin, integrating to ``total_power_w``.

    Examples
    --------
    >>> grid = Grid.centered(40.0, 1.0)
    >>> density = gaussian_power_density(grid, 10.0, 4.0)
    >>> round(float(density.sum() * grid.voxel_volume_m3), 3)
    10.0
    """
    x, y, z = grid.voxel_centers_mm()
    shape = np.exp(-(x**2 + y**2 + z**2) / (2.0 * width_mm**2))
    shape = np.broadcast_to(shape, grid.shape)
    return total_power_w * shape / (shape.sum() * grid.voxel_volume_m3)


def compare_with_py_pde(
    extent_mm: float = 40.0,
    spacing_mm: float = 1.0,
    duration_s: float = 300.0,
    total_power_w: float = 3.0,
    width_mm: float = 3.0,
    isotherm_c: float = ISOTHERM_C,
    pypde_time_step_s: float | None = None,
) -> PyPdeComparison:
    """Run the same Pennes problem in rfasim and in py-pde, and compare.

    Problem: uniform perfused liver (rfasim's defaults), a fixed Gaussian power density
    (:class:`~rfasim.sources.PowerDensitySource`), no vaporisation, 37 degC initially and at the
    boundary.  py-pde integrates ``rho c dT/dt = k lap T + w_b rho_b c_b (T_a - T) + Q`` on the
    same cell-centred grid with Dirichlet 37 degC at the box faces, with its own explicit
    Runge-Kutta stepper.  rfasim holds its outermost voxel layer at 37 degC instead; the half
    voxel this moves the boundary matters little because the box is much larger than the heated
    region.

    Parameters
    ----------
    extent_mm, spacing_mm : float
        Box edge and grid spacing (mm).
    duration_s : float
        Heating time (s).
    total_power_w, width_mm : float
        Source power (W) and Gaussian standard deviation (mm).
    isotherm_c : float
        Isotherm for the volume comparison (degC).
    pypde_time_step_s : float, optional
        Fixed py-pde step (s); default: adaptive Runge-Kutta.

    Returns
    -------
    PyPdeComparison
    """
    import pde  # optional dependency, used only here

    # rfasim stops perfusion where Arrhenius damage reaches 1 (coagulated tissue); the shared
    # problem is plain Pennes, so damage integration is moved out of reach (threshold 1e6 degC).
    tissue = replace(
        homogeneous_liver(perfused=True),
        vaporization=VaporizationModel(enabled=False),
        arrhenius=ArrheniusParameters(minimum_temperature_c=1.0e6),
    )
    liver = tissue.classes[TissueClass.LIVER]
    grid = Grid.centered(extent_mm, spacing_mm)
    material = np.full(grid.shape, TissueClass.LIVER, np.uint8)
    density = gaussian_power_density(grid, total_power_w, width_mm)

    start = time.perf_counter()
    result = simulate(grid, material, tissue=tissue, source=PowerDensitySource(density), duration_s=duration_s,
                      options=SimulationOptions(record_interval_s=duration_s))
    rfasim_wall = time.perf_counter() - start
    rfasim_temperature = result.temperature_c

    heat_capacity = liver.density_kg_per_m3 * liver.specific_heat_j_per_kg_k
    diffusivity_mm2 = liver.thermal_conductivity_w_per_m_k / heat_capacity * 1e6  # mm^2/s (lengths in mm)
    perfusion_rate = liver.perfusion_rate_per_s * tissue.blood_heat_capacity_j_per_m3_k / heat_capacity
    heating_rate = density / heat_capacity  # K/s
    arterial = tissue.body_temperature_c

    axes = grid.axis_coordinates_mm()
    bounds = [(float(a[0]) - 0.5 * spacing_mm, float(a[-1]) + 0.5 * spacing_mm) for a in axes]
    pde_grid = pde.CartesianGrid(bounds, list(grid.shape))
    boundary = {"value": arterial}

    class PennesPDE(pde.PDEBase):  # type: ignore[misc]
        """Pennes bioheat with a fixed source, constant properties."""

        def evolution_rate(self, state, t=0):  # noqa: ANN001, ANN202 - py-pde's signature
            laplacian = state.laplace(bc=boundary)
            return diffusivity_mm2 * laplacian + perfusion_rate * (arterial - state) + heating_rate_field

    heating_rate_field = pde.ScalarField(pde_grid, heating_rate)
    initial = pde.ScalarField(pde_grid, arterial)
    start = time.perf_counter()
    if pypde_time_step_s is None:
        final = PennesPDE().solve(initial, t_range=duration_s, dt=0.5, solver="runge-kutta", adaptive=True,
                                  tolerance=1e-6, tracker=None, backend="numpy")
    else:
        final = PennesPDE().solve(initial, t_range=duration_s, dt=pypde_time_step_s, solver="euler",
                                  tracker=None, backend="numpy")
    pypde_wall = time.perf_counter() - start
    pypde_temperature = np.asarray(final.data)
    # The same forward-Euler step as rfasim: isolates the spatial discretisation and the code.
    same_step = PennesPDE().solve(initial, t_range=duration_s, dt=result.time_step_s, solver="euler",
                                  tracker=None, backend="numpy")
    same_step_temperature = np.asarray(same_step.data)

    interior = (slice(1, -1),) * 3  # rfasim's outer layer is its Dirichlet boundary
    difference = np.abs(rfasim_temperature[interior] - pypde_temperature[interior])
    same_step_difference = np.abs(rfasim_temperature[interior] - same_step_temperature[interior])
    quarter = [max(1, n // 4) for n in grid.shape]
    core = tuple(slice(q, n - q) for q, n in zip(quarter, grid.shape, strict=True))
    core_difference = np.abs(rfasim_temperature[core] - pypde_temperature[core])
    rfasim_volume = float((rfasim_temperature >= isotherm_c).sum()) * grid.voxel_volume_ml
    pypde_volume = float((pypde_temperature >= isotherm_c).sum()) * grid.voxel_volume_ml
    centre = [int(np.argmin(np.abs(a))) for a in axes]
    return PyPdeComparison(
        max_abs_difference_c=float(difference.max()),
        same_step_max_abs_difference_c=float(same_step_difference.max()),
        core_max_abs_difference_c=float(core_difference.max()),
        rfasim_time_step_s=float(result.time_step_s),
        peak_temperature_c=float(rfasim_temperature.max()),
        rfasim_volume_ml=rfasim_volume,
        pypde_volume_ml=pypde_volume,
        volume_difference_pct=100.0 * (rfasim_volume - pypde_volume) / pypde_volume if pypde_volume else math.nan,
        isotherm_c=isotherm_c,
        coordinates_mm=axes[0].copy(),
        rfasim_profile_c=rfasim_temperature[:, centre[1], centre[2]].copy(),
        pypde_profile_c=pypde_temperature[:, centre[1], centre[2]].copy(),
        rfasim_wall_s=rfasim_wall,
        pypde_wall_s=pypde_wall,
    )
