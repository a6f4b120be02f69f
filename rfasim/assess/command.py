"""``rfasim assess``: the command-line front of :func:`rfasim.assess.assess_ablation`.

Exit codes (those of the ``rfasim`` command): 0 assessed (whatever the margin), 2 bad input or
images that do not agree (one line naming the file or field, nothing written), 1 anything else.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EXIT_OK = 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``rfasim assess``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser (options are added to it).
    """
    parser.add_argument("--pre", required=True, help="pre-ablation CT: NIfTI file or DICOM series folder")
    parser.add_argument("--post", required=True, help="post-ablation CT: NIfTI file or DICOM series folder")
    parser.add_argument("--tumor", required=True,
                        help="tumor labels on the pre-ablation CT (NIfTI, DICOM or DICOM-SEG; rfasim codes: 1 liver, 2 tumor, 3 vessel)")
    parser.add_argument("--zone", required=True, help="ablation-zone labels on the post-ablation CT (non-zero voxels)")
    parser.add_argument("--out", required=True, help="assessment folder to write")
    parser.add_argument("--plan", help="plan folder (zone.nii.gz, metrics.json): predicted versus achieved zone")
    parser.add_argument("--deformable", action="store_true", help="add a B-spline step after the rigid registration")
    parser.add_argument("--metric", choices=("mutual_information", "mean_squares"), default="mutual_information",
                        help="registration metric (default mutual_information)")
    parser.add_argument("--tumor-id", type=int, help="which tumor when the labels hold several (1 is the largest)")
    parser.add_argument("--tumor-code", type=int, help="label code of the tumor (default 2, or 1 in a binary mask)")
    parser.add_argument("--zone-code", type=int, help="label code of the zone (default: any non-zero)")
    parser.add_argument("--post-liver", help="liver labels on the post-ablation CT (adds a liver-mask check)")
    parser.add_argument("--target-mm", type=float, default=5.0, help="required margin in mm (default 5)")
    parser.add_argument("--spacing", type=float, help="measurement voxel size in mm (default: the finer scan's, 0.5-2)")


def run(arguments: argparse.Namespace) -> int:
    """Assess, write the folder, print the summary; errors propagate to the CLI's handler.

    Parameters
    ----------
    arguments : argparse.Namespace
        The parsed options of :func:`add_arguments`.

    Returns
    -------
    int
        The exit code (0).
    """
    from rfasim.assess.outputs import write_assessment_folder
    from rfasim.assess.pipeline import assess_ablation, summary_text

    result = assess_ablation(
        arguments.pre,
        arguments.post,
        arguments.tumor,
        arguments.zone,
        plan=arguments.plan,
        deformable=arguments.deformable,
        metric=arguments.metric,
        tumor_id=arguments.tumor_id,
        tumor_code=arguments.tumor_code,
        zone_code=arguments.zone_code,
        post_liver=arguments.post_liver,
        target_mm=arguments.target_mm,
        spacing_mm=arguments.spacing,
    )
    out = Path(arguments.out)
    write_assessment_folder(result, out)
    print(summary_text(result))
    print(f"assessment folder: {out}")
    return EXIT_OK
