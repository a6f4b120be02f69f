"""What a plan produces in memory: :class:`PlanResult` and its typed summaries.

Everything here lives on the *simulation grid* (isotropic, world-aligned, RAS mm); the plan
folder's NIfTI files are these fields mapped back onto the input image's own grid.  The
summaries hold full-precision numbers; :mod:`rfasim.plan.outputs` rounds them and writes
``metrics.json`` (the one place where they become JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rfasim.grid import Grid
from rfasim.metrics import MarginSurface, VesselReport
from rfasim.metrics.criteria import ZoneCriterion


@dataclass(frozen=True)
class Eligibility:
    """The clinical eligibility verdict (:func:`rfasim.plan.eligibility.eligibility_verdict`).

    Attributes
    ----------
    eligible : bool
        Whether the tumor may be treated by RFA.
    tumor_max_diameter_mm : float
        The maximum 3D diameter judged (mm, rounded to 0.01 mm as the rule judges it).
    limit_mm : float
        The rule's limit (mm).
    reason : str
        The verdict in words (with the alternatives when not eligible).
    """

    eligible: bool
    tumor_max_diameter_mm: float
    limit_mm: float
    reason: str


@dataclass(frozen=True)
class TumorSummary:
    """The target tumor as segmented in the input image.

    Attributes
    ----------
    tumor_id : int
        Connected-component id of the tumor.
    volume_ml : float
        Volume (mL).
    centroid_mm : tuple of float
        Centroid (world RAS mm).
    max_diameter_mm : float
        Exact maximum 3D diameter (mm).
    """

    tumor_id: int
    volume_ml: float
    centroid_mm: tuple[float, float, float]
    max_diameter_mm: float


@dataclass(frozen=True)
class MarginSummary:
    """The safety margin of the zone around the target tumor (see :mod:`rfasim.metrics.margin`).

    Attributes
    ----------
    min_mm : float or None
        Smallest signed margin over the tumor surface (mm); None for an empty zone.
    target_mm : float
        Required margin (mm).
    surface_pct_at_target : float
        Percentage of the tumor surface with a margin of at least ``target_mm``.
    surface_pct_at_10mm : float
        Percentage of the tumor surface with a margin of at least 10 mm.
    ok : bool
        Whether ``min_mm >= target_mm``.
    thinnest_at_mm : tuple of float or None
        Where on the tumor surface the margin is thinnest (world mm).
    percentiles_mm : dict of str to float, or None
        Area-weighted margin percentiles (``"p5"`` ... ``"p95"``, mm).
    """

    min_mm: float | None
    target_mm: float
    surface_pct_at_target: float
    surface_pct_at_10mm: float
    ok: bool
    thinnest_at_mm: tuple[float, float, float] | None
    percentiles_mm: dict[str, float] | None


@dataclass(frozen=True)
class ZoneSummary:
    """A necrosis zone of one criterion: its size and, for the plan's criterion, coverage and margin.

    Attributes
    ----------
    criterion : ZoneCriterion
        The registered criterion (:mod:`rfasim.metrics.criteria`).
    threshold : float
        The threshold in use, in the criterion's unit.
    volume_ml : float
        Zone volume (mL), sub-voxel.
    axes_mm : tuple of float
        Full lengths ``(long, mid, short)`` (mm); long is along the first probe.
    coverage_pct : float or None
        Percentage of the tumor volume inside the zone (None where not measured).
    margin : MarginSummary or None
        Safety margin of this zone (None where not measured).
    """

    criterion: ZoneCriterion
    threshold: float
    volume_ml: float
    axes_mm: tuple[float, float, float]
    coverage_pct: float | None = None
    margin: MarginSummary | None = None

    @property
    def description(self) -> str:
        """The criterion in words, e.g. ``"peak temperature >= 100 degC"``."""
        return self.criterion.describe(self.threshold)

    @property
    def threshold_c(self) -> float | None:
        """The threshold (degC) of a temperature criterion, else None."""
        return self.criterion.temperature_threshold_c(self.threshold)


@dataclass(frozen=True)
class Debulking:
    """The palliative (debulking) rule applied to the plan's coverage.

    Attributes
    ----------
    complete_coverage : bool
        Whether the zone covers the whole tumor (coverage >= 99.95 %).
    destroyed_pct : float
        Percentage of the tumor inside the zone.
    more_than_90_pct_destroyed : bool
        Whether more than 90 % is destroyed (the rule's threshold).
    rule : str
        The rule in words.
    """

    complete_coverage: bool
    destroyed_pct: float
    more_than_90_pct_destroyed: bool
    rule: str


@dataclass(frozen=True)
class OtherTumorFinding:
    """Another tumor of the label map (:func:`rfasim.plan.tumor_list.other_tumor_findings`).

    Attributes
    ----------
    distance_to_zone_mm : float or None
        Closest distance from that tumor to the plan's zone (mm; 0 where they overlap; None when
        nothing was simulated).
    tumor_id : int or None
        Its id, as ``rfasim tumors`` numbers them (1 = the largest).
    volume_ml, max_diameter_mm : float or None
        Its size (mL, mm).
    centroid_mm : tuple of float or None
        World RAS+ mm.
    eligible : bool or None
        Whether it is within the 40 mm RFA limit.
    inside_simulated_region : bool or None
        Whether it lies (partly) in the simulation grid.
    """

    distance_to_zone_mm: float | None
    tumor_id: int | None = None
    volume_ml: float | None = None
    max_diameter_mm: float | None = None
    centroid_mm: tuple[float, float, float] | None = None
    eligible: bool | None = None
    inside_simulated_region: bool | None = None


@dataclass(frozen=True)
class GeneratorSummary:
    """What the generator delivered.

    Attributes
    ----------
    mode : str
        Generator mode (``"impedance"``...).
    energy_j : float
        Electrical energy delivered (J).
    mean_power_w : float
        Energy over duration (W).
    rolloffs : int
        Number of impedance roll-offs.
    final_impedance_ohm : float
        Last finite impedance recorded (Ohm; NaN if none).
    duration_s : float
        Simulated time (s).
    protocol : dict
        The generator table used (the case's, or the probe model's usual protocol).
    """

    mode: str
    energy_j: float
    mean_power_w: float
    rolloffs: int
    final_impedance_ohm: float
    duration_s: float
    protocol: dict[str, Any]


@dataclass(frozen=True)
class EnergyBalanceSummary:
    """Where the delivered energy went (J).

    Attributes
    ----------
    electrical_j, stored_j, perfusion_j : float
        Electrical energy in, heat stored in tissue, heat carried away by perfusion.
    boundary_and_sinks_j : float
        Heat lost through the outer boundary, to vessels and coolant (fixed-temperature voxels).
    residual_j : float
        What the balance does not account for (round-off).
    """

    electrical_j: float
    stored_j: float
    perfusion_j: float
    boundary_and_sinks_j: float
    residual_j: float


@dataclass(frozen=True)
class RunSummary:
    """How the plan was computed.

    Attributes
    ----------
    rfasim_version : str
    wall_s : float
        Wall-clock time of :func:`~rfasim.plan.pipeline.run_case` (s).
    grid_shape : tuple of int
    spacing_mm : float
    simulated : bool
        False when the tumor was refused as not eligible.
    origin_mm : tuple of float or None
        World position of voxel (0, 0, 0) (mm); the rest are None when not simulated.
    heat_steps : int or None
    time_step_s : float or None
    electric_solves : int or None
    electric_s : float or None
        Time spent in electric solves (s).
    """

    rfasim_version: str
    wall_s: float
    grid_shape: tuple[int, ...]
    spacing_mm: float
    simulated: bool
    origin_mm: tuple[float, float, float] | None = None
    heat_steps: int | None = None
    time_step_s: float | None = None
    electric_solves: int | None = None
    electric_s: float | None = None


@dataclass(frozen=True)
class QuantityError:
    """Out-of-sample errors of one zone quantity over a device class's experiments.

    Attributes
    ----------
    n : int
        Experiments.
    median_error_pct : float
        Median signed error, 100 (predicted - measured) / measured (%): the model's bias.
    median_abs_error_pct, max_abs_error_pct : float
        Median and largest absolute error (%).
    """

    n: int
    median_error_pct: float
    median_abs_error_pct: float
    max_abs_error_pct: float


@dataclass(frozen=True)
class ModelUncertainty:
    """The model's out-of-sample error for the plan's device class (issue 12, item 6).

    Attributes
    ----------
    device_class : str
        Catalog probe ``kind`` (``"a+b"`` when the plan mixes classes).
    status : str
        ``"validated"`` or ``"not validated"`` (no entry for the class: nothing is invented).
    subset : str or None
        Which experiments the errors come from (in vivo preferred).
    errors : dict of str to QuantityError
        By quantity (``volume_ml``, ``short_axis_mm``, ``long_axis_mm``).
    experiments : list of str
        Corpus experiments behind the errors.
    commit, physics_hash, spacing_mm, basis, generated
        Provenance of ``rfasim/data/validation_errors.toml`` (None when absent).
    """

    device_class: str
    status: str
    subset: str | None
    errors: dict[str, QuantityError]
    experiments: list[str]
    commit: str | None = None
    physics_hash: str | None = None
    spacing_mm: float | None = None
    basis: str | None = None
    generated: str | None = None


@dataclass
class PlanResult:
    """A computed (or refused) plan.

    Attributes
    ----------
    grid : Grid
        Simulation grid.
    tissue_classes : ndarray of uint8
        :class:`~rfasim.tissue.TissueClass` per voxel of the simulation grid.
    target_mask : ndarray of bool
        The target tumor.
    other_tumor_masks : list of ndarray of bool
        The other tumors in the region (by id), for distances.
    ct_hu : ndarray or None
        CT resampled onto the simulation grid (HU).
    zone_mask : ndarray of bool or None
        Necrosis zone of the plan's criterion (None if not simulated).
    arrhenius_zone_mask : ndarray of bool or None
        Arrhenius zone (Omega >= 1), always reported beside the chosen one.
    peak_temperature_c, damage : ndarray or None
        Peak temperature (degC) and Arrhenius damage on the simulation grid.
    placements : list
        The probes (:class:`rfasim.probes.ProbePlacement`).
    margin_surface : MarginSurface or None
    eligibility : Eligibility or None
    tumor : TumorSummary or None
    tumors_in_image : int
        Tumors found in the input image.
    zone : ZoneSummary or None
        The plan's criterion, with coverage and margin (None if not simulated).
    arrhenius_zone : ZoneSummary or None
        The Arrhenius (coagulation) zone's size.
    debulking : Debulking or None
    heat_sinks : list of VesselReport
        Large vessels near the zone (:func:`rfasim.metrics.heat_sink_warnings`).
    other_tumors : list of OtherTumorFinding
    generator : GeneratorSummary or None
    peak_temperature_max_c : float or None
        Highest temperature anywhere (degC).
    energy_balance : EnergyBalanceSummary or None
    run : RunSummary or None
    simulation : object or None
        The :class:`rfasim.solver.SimulationResult` (time series, energy balance...).
    snapshots : object or None
        A :class:`rfasim.trackers.SnapshotTracker` with temperature snapshots, if recorded.
    input_shape, input_affine : tuple, ndarray
        Shape and affine of the input label image (where the NIfTI outputs go).
    warnings : list of str
        Everything the user should see (``metrics.json``'s ``warnings``; writing the plan folder
        adds a line for any picture it could not render).
    unlabelled_tissue : rfasim.imaging.body.UnlabelledTissue or None
        What the unlabelled voxels of the region were taken to be (CT classes, or assumed air).
    needle_paths : list of dict
        Each probe's whole path checked on the full label map (``metrics.json`` ``needle_paths``).
    domain : dict or None
        The simulation boxes tried and whether the zones settled (:mod:`rfasim.plan.domain`).
    zone_file_volume_ml : float or None
        Volume of ``zone.nii.gz`` (mL), set when the plan folder is written.
    model_uncertainty : ModelUncertainty or None
        The model's out-of-sample error for the plan's device class (set when simulated).
    """

    grid: Grid
    tissue_classes: np.ndarray
    target_mask: np.ndarray
    other_tumor_masks: list[np.ndarray] = field(default_factory=list)
    ct_hu: np.ndarray | None = None
    zone_mask: np.ndarray | None = None
    arrhenius_zone_mask: np.ndarray | None = None
    peak_temperature_c: np.ndarray | None = None
    damage: np.ndarray | None = None
    placements: list[Any] = field(default_factory=list)
    margin_surface: MarginSurface | None = None
    eligibility: Eligibility | None = None
    tumor: TumorSummary | None = None
    tumors_in_image: int = 0
    zone: ZoneSummary | None = None
    arrhenius_zone: ZoneSummary | None = None
    debulking: Debulking | None = None
    heat_sinks: list[VesselReport] = field(default_factory=list)
    other_tumors: list[OtherTumorFinding] = field(default_factory=list)
    generator: GeneratorSummary | None = None
    peak_temperature_max_c: float | None = None
    energy_balance: EnergyBalanceSummary | None = None
    run: RunSummary | None = None
    simulation: Any = None
    snapshots: Any = None
    input_shape: tuple[int, int, int] | None = None
    input_affine: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    unlabelled_tissue: Any = None
    needle_paths: list[dict[str, Any]] = field(default_factory=list)
    domain: dict[str, Any] | None = None
    zone_file_volume_ml: float | None = None
    model_uncertainty: ModelUncertainty | None = None

    @property
    def simulated(self) -> bool:
        """Whether the ablation was simulated (False when refused as not eligible)."""
        return self.zone_mask is not None

    @property
    def metrics(self) -> dict[str, Any]:
        """The content of ``metrics.json``, built from the typed fields by the writer.

        A fresh dict on every call (editing it changes nothing); for scripts and sweeps that
        want the plan's figures by their ``metrics.json`` names.
        """
        from rfasim.plan.outputs import metrics_document

        return metrics_document(self)


__all__ = [
    "Debulking",
    "Eligibility",
    "EnergyBalanceSummary",
    "GeneratorSummary",
    "MarginSummary",
    "ModelUncertainty",
    "OtherTumorFinding",
    "PlanResult",
    "QuantityError",
    "RunSummary",
    "TumorSummary",
    "ZoneSummary",
]
