"""Mapping a case's integer label codes onto rfasim's tissue classes.

A :class:`LabelMapping` lists, for each class (``background``, ``liver``, ``tumor``, ``vessel``,
``other``, ``forbidden``), the label codes that form it; several codes may form one class.  Codes
found in an image but mapped to no class are an error, unless the mapping says
``unmapped = "other"``: then they become :attr:`TissueClass.OTHER` and a warning says so.  No code
is ever dropped silently.

Presets
-------
``"rfasim"``
    The project's defaults: 0 background, 1 liver, 2 tumor, 3 vessel.
``"totalsegmentator"``
    TotalSegmentator v2 ``total`` task (117 classes; see :data:`TOTALSEGMENTATOR_TOTAL_V2`), plus
    its ``liver_vessels`` task merged with an offset of 200 (201 liver vessels, 202 liver tumor;
    see :func:`merge_totalsegmentator_liver_vessels`).  The ``total`` task has no tumor class, so
    the tumor comes from the merged ``liver_vessels`` output or from an explicit ``tumor = [...]``.
``"totalsegmentator-v1"``
    The same for TotalSegmentator v1 (104 classes; codes differ from v2).

The TotalSegmentator codes come from ``totalsegmentator/map_to_binary.py`` (``class_map["total"]``,
``class_map["total_v1"]`` and ``class_map["liver_vessels"]``) of the TotalSegmentator repository
(v2.x).  Codes differ between TotalSegmentator versions: check yours and override classes
explicitly when they do not match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rfasim.errors import CaseFileError, LabelError
from rfasim.tissue import TissueClass

#: Class names accepted in a case file, and the tissue class each becomes.
CLASS_BY_NAME: dict[str, TissueClass] = {
    "background": TissueClass.BACKGROUND,
    "liver": TissueClass.LIVER,
    "tumor": TissueClass.TUMOR,
    "vessel": TissueClass.VESSEL,
    "other": TissueClass.OTHER,
    "forbidden": TissueClass.FORBIDDEN,
}
UNMAPPED_POLICIES = ("error", "other")
#: Classes whose preset codes an explicit class may take only when the class is listed too
#: (taking the tumor's code into the liver silently leaves no tumor).  Codes of ``background``
#: and ``other`` may be reassigned freely (``other = [0]`` makes unlabelled voxels tissue).
PROTECTED_CLASSES = ("liver", "tumor", "vessel", "forbidden")

# ---------------------------------------------------------------------------------------------
# TotalSegmentator class codes (from totalsegmentator/map_to_binary.py, see the module docstring)

#: TotalSegmentator v2 ``total`` task: the codes rfasim gives a class other than ``other``.
TOTALSEGMENTATOR_TOTAL_V2: dict[str, list[int]] = {
    "liver": [5],
    # 52 aorta, 63 inferior_vena_cava, 64 portal_vein_and_splenic_vein
    "vessel": [52, 63, 64],
    "forbidden": [
        4,  # gallbladder
        6,  # stomach
        *range(10, 15),  # lung lobes (upper left .. lower right)
        15,
        16,  # esophagus, trachea
        18,
        19,
        20,  # small bowel, duodenum, colon
        25,  # sacrum
        *range(26, 51),  # vertebrae S1 .. C1
        51,  # heart
        *range(92, 116),  # ribs left 1-12, right 1-12
        116,
        117,  # sternum, costal cartilages
    ],
}
TOTALSEGMENTATOR_TOTAL_V2_CODES = range(1, 118)

#: TotalSegmentator v1 ``total`` task (104 classes).
TOTALSEGMENTATOR_TOTAL_V1: dict[str, list[int]] = {
    "liver": [5],
    # 7 aorta, 8 inferior_vena_cava, 9 portal_vein_and_splenic_vein
    "vessel": [7, 8, 9],
    "forbidden": [
        4,  # gallbladder
        6,  # stomach
        *range(13, 18),  # lung lobes
        *range(18, 42),  # vertebrae L5 .. C1
        42,
        43,  # esophagus, trachea
        *range(44, 49),  # heart chambers and myocardium
        55,
        56,
        57,  # small bowel, duodenum, colon
        *range(58, 82),  # ribs
        92,  # sacrum
    ],
}
TOTALSEGMENTATOR_TOTAL_V1_CODES = range(1, 105)

#: Offset added to the ``liver_vessels`` task's codes (1 liver_vessels, 2 liver_tumor) when merged.
LIVER_VESSELS_OFFSET = 200


def _totalsegmentator_preset(
    classes: dict[str, list[int]], all_codes: range
) -> dict[str, list[int]]:
    assigned = {code for codes in classes.values() for code in codes}
    preset = {name: list(codes) for name, codes in classes.items()}
    preset["background"] = [0]
    preset["other"] = [code for code in all_codes if code not in assigned]
    preset["vessel"] = preset["vessel"] + [LIVER_VESSELS_OFFSET + 1]
    preset["tumor"] = [LIVER_VESSELS_OFFSET + 2]
    return preset


PRESETS: dict[str, dict[str, list[int]]] = {
    "rfasim": {"background": [0], "liver": [1], "tumor": [2], "vessel": [3]},
    "totalsegmentator": _totalsegmentator_preset(
        TOTALSEGMENTATOR_TOTAL_V2, TOTALSEGMENTATOR_TOTAL_V2_CODES
    ),
    "totalsegmentator-v1": _totalsegmentator_preset(
        TOTALSEGMENTATOR_TOTAL_V1, TOTALSEGMENTATOR_TOTAL_V1_CODES
    ),
}


@dataclass(frozen=True)
class LabelMapping:
    """Which label codes form which tissue class.

    Parameters
    ----------
    classes : mapping of str to list of int
        Class name (see :data:`CLASS_BY_NAME`) to its label codes.  A code belongs to one class.
    unmapped : {"error", "other"}
        What a code found in the image but in no class becomes: an error, or ``other`` tissue
        (with a warning).

    Examples
    --------
    >>> mapping = LabelMapping.preset("rfasim")
    >>> mapping.class_of(2).name
    'TUMOR'
    """

    classes: Mapping[str, list[int]] = field(default_factory=dict)
    unmapped: str = "error"

    def __post_init__(self) -> None:
        owner: dict[int, str] = {}
        cleaned: dict[str, list[int]] = {}
        for name, codes in self.classes.items():
            if name not in CLASS_BY_NAME:
                raise LabelError(
                    f"unknown tissue class {name!r}; valid: {', '.join(CLASS_BY_NAME)}"
                )
            cleaned[name] = []
            for given in codes:
                if isinstance(given, bool) or not isinstance(given, (int, np.integer)):
                    raise LabelError(
                        f"label codes of class {name!r} must be integers, got {given!r}"
                    )
                code = int(given)
                if code in owner and owner[code] != name:
                    raise LabelError(
                        f"label code {code} is in two classes: {owner[code]!r} and {name!r}"
                    )
                owner[code] = name
                if code not in cleaned[name]:
                    cleaned[name].append(code)
        if self.unmapped not in UNMAPPED_POLICIES:
            raise LabelError(f"unmapped must be one of {UNMAPPED_POLICIES}, got {self.unmapped!r}")
        object.__setattr__(self, "classes", cleaned)

    @classmethod
    def preset(cls, name: str, unmapped: str = "error") -> LabelMapping:
        """A mapping from a named preset (:data:`PRESETS`).

        Parameters
        ----------
        name : str
            A key of :data:`PRESETS`.
        unmapped : {"error", "other"}
            What an unmapped label code does (see the class).

        Returns
        -------
        LabelMapping

        Raises
        ------
        LabelError
            Unknown preset.
        """
        if name not in PRESETS:
            raise LabelError(f"unknown label preset {name!r}; valid: {', '.join(PRESETS)}")
        return cls({key: list(codes) for key, codes in PRESETS[name].items()}, unmapped)

    @classmethod
    def from_case(cls, table: Mapping[str, Any] | None, where: str = "[labels]") -> LabelMapping:
        """Build a mapping from the ``[labels]`` table of a case file.

        ``preset`` (default ``"rfasim"``) gives every class its codes; a class listed explicitly
        replaces the preset's codes for that class, and its codes are taken away from the preset's
        other classes.

        Parameters
        ----------
        table : mapping or None
            The parsed ``[labels]`` table (None: the ``rfasim`` preset).
        where : str
            How messages name the table (e.g. ``"case.toml [labels]"``).

        Returns
        -------
        LabelMapping

        Raises
        ------
        CaseFileError
            Unknown keys, wrong types, unknown preset or policy, a code in two explicit classes.
        """
        table = dict(table or {})
        allowed = {"preset", "unmapped", *CLASS_BY_NAME}
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise CaseFileError(
                f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(allowed))}"
            )
        preset_name = table.get("preset", "rfasim")
        if not isinstance(preset_name, str) or preset_name not in PRESETS:
            raise CaseFileError(
                f"{where}: preset must be one of {', '.join(PRESETS)}, got {preset_name!r}"
            )
        unmapped = table.get("unmapped", "error")
        if unmapped not in UNMAPPED_POLICIES:
            raise CaseFileError(f'{where}: unmapped must be "error" or "other", got {unmapped!r}')
        explicit: dict[str, list[int]] = {}
        for name in CLASS_BY_NAME:
            if name not in table:
                continue
            codes = table[name]
            if isinstance(codes, (int, np.integer)) and not isinstance(codes, bool):
                codes = [codes]
            if not isinstance(codes, list) or not all(
                isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in codes
            ):
                raise CaseFileError(
                    f"{where}: {name} must be a list of integer label codes, got {codes!r}"
                )
            explicit[name] = [int(c) for c in codes]
        claimed = {code for codes in explicit.values() for code in codes}
        for name, codes in explicit.items():
            for code in codes:
                owner = next(
                    (other for other, preset_codes in PRESETS[preset_name].items() if code in preset_codes), None
                )
                if owner in PROTECTED_CLASSES and owner != name and owner not in explicit:
                    raise CaseFileError(
                        f"{where} {name}: code {code} is the {owner} code of preset {preset_name!r}; "
                        f"listing it under {name} would leave {owner} without it: list {owner} too "
                        f"(e.g. {owner} = [...]) if that is what you mean"
                    )
        classes = {
            name: [c for c in codes if c not in claimed]
            for name, codes in PRESETS[preset_name].items()
        }
        classes.update(explicit)
        try:
            return cls(classes, unmapped)
        except LabelError as error:
            raise CaseFileError(f"{where}: {error}") from None

    def codes_of(self, name: str) -> list[int]:
        """Label codes forming class ``name`` (empty list when none).

        Parameters
        ----------
        name : str
            A tissue class name (a key of :data:`CLASS_BY_NAME`).

        Returns
        -------
        list of int
        """
        return list(self.classes.get(name, []))

    def class_of(self, code: int) -> TissueClass | None:
        """Tissue class of a label code, or None when the code is unmapped.

        Parameters
        ----------
        code : int
            A label code.

        Returns
        -------
        TissueClass or None
        """
        for name, codes in self.classes.items():
            if int(code) in codes:
                return CLASS_BY_NAME[name]
        return None

    def to_tissue_classes(
        self, labels: np.ndarray, source: str = "labels", require_tumor: bool = True
    ) -> tuple[np.ndarray, list[str]]:
        """Convert a label map to :class:`TissueClass` codes.

        Parameters
        ----------
        labels : numpy.ndarray
            Integer label map (any shape, any integer type).
        source : str
            How messages name the label map (its file name).
        require_tumor : bool
            Raise :class:`LabelError` when no voxel is tumor.

        Returns
        -------
        classes : numpy.ndarray
            ``uint8`` array of :class:`TissueClass` values, same shape as ``labels``.
        warnings : list of str
            One line per unmapped code turned into ``other`` tissue.

        Raises
        ------
        LabelError
            Codes present but unmapped (``unmapped = "error"``), non-integer labels, no tumor.
        """
        labels = np.asarray(labels)
        if not np.issubdtype(labels.dtype, np.integer) and labels.dtype != bool:
            raise LabelError(f"{source}: label map must hold integers, got {labels.dtype}")
        present, inverse = np.unique(labels, return_inverse=True)
        lookup = np.empty(present.size, dtype=np.uint8)
        missing = []
        for position, code in enumerate(present.tolist()):
            tissue = self.class_of(code)
            if tissue is None:
                missing.append(int(code))
                tissue = TissueClass.OTHER
            lookup[position] = tissue
        warnings: list[str] = []
        if missing:
            listed = ", ".join(str(c) for c in missing[:20]) + (" ..." if len(missing) > 20 else "")
            if self.unmapped == "error":
                raise LabelError(
                    f"{source}: label codes {listed} are in no class of the label mapping; "
                    'map them or set unmapped = "other"'
                )
            warnings.append(f"{source}: unmapped label codes {listed} treated as other tissue")
        classes = lookup[inverse.reshape(labels.shape)]
        if require_tumor and not np.any(classes == TissueClass.TUMOR):
            codes = self.codes_of("tumor")
            raise LabelError(f"{source}: the tumor label (codes {codes}) is empty: no tumor voxel")
        return classes, warnings


def merge_totalsegmentator_liver_vessels(
    total: np.ndarray, liver_vessels: np.ndarray
) -> np.ndarray:
    """Merge TotalSegmentator's ``total`` and ``liver_vessels`` outputs into one label map.

    The ``liver_vessels`` codes (1 liver vessels, 2 liver tumor) are written over the ``total`` map
    as 201 and 202, which the ``"totalsegmentator"`` presets map to vessel and tumor.

    Parameters
    ----------
    total, liver_vessels : numpy.ndarray
        Label maps of the same shape (same grid).

    Returns
    -------
    numpy.ndarray of int32
        The merged label map.

    Raises
    ------
    LabelError
        The shapes differ.
    """
    total = np.asarray(total)
    liver_vessels = np.asarray(liver_vessels)
    if total.shape != liver_vessels.shape:
        raise LabelError(
            f"liver_vessels shape {liver_vessels.shape} differs from total shape {total.shape}"
        )
    merged = total.astype(np.int32)
    for code in (1, 2):
        merged[liver_vessels == code] = LIVER_VESSELS_OFFSET + code
    return merged
