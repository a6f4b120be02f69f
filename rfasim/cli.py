"""The ``rfasim`` command line (spec: demo, phantom, plan, sweep; plus probes and assess).

Exit codes: 0 the plan was computed (whatever its verdict); 2 bad input (one line on stderr,
no traceback, no partial output); 3 refused by a clinical rule and not forced; 1 anything else.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_REFUSED = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors are bad input: exit code 2, one line
        self.print_usage(sys.stderr)
        sys.stderr.write(f"rfasim: error: {message}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _parser() -> argparse.ArgumentParser:
    from rfasim import __version__

    parser = _Parser(prog="rfasim", description="Radiofrequency ablation planning simulator.")
    parser.add_argument("--version", action="version", version=f"rfasim {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = commands.add_parser("demo", help="plan a single-probe ablation of the default phantom")
    demo.add_argument("--out", default="rfasim-demo", help="plan folder (default ./rfasim-demo)")
    demo.add_argument("--spacing", type=float, default=1.5,
                      help="simulation spacing in mm (default 1.5, so the demo runs in under a minute; "
                           "input/case.toml keeps the phantom's 1.0 for `rfasim plan`)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")

    phantom = commands.add_parser("phantom", help="write a named phantom: ct.nii.gz, labels.nii.gz, case.toml")
    phantom.add_argument("name", nargs="?", help="phantom name (see --list)")
    phantom.add_argument("--out", help="output folder")
    phantom.add_argument("--list", action="store_true", help="list the phantoms")

    plan = commands.add_parser("plan", help="run a case file and write a plan folder")
    plan.add_argument("case", help="case.toml")
    plan.add_argument("--out", help="plan folder (default: <case folder>/plan)")
    plan.add_argument("--force", action="store_true", help="simulate even a tumor that is not eligible (research)")
    plan.add_argument("--quiet", action="store_true", help="no progress bar")
    plan.add_argument("--animate", action="store_true",
                      help="keep temperature snapshots every 10 s and write heating.gif")
    plan.add_argument("--list-tumors", action="store_true",
                      help="list the tumors (id, volume, max diameter, centroid, eligibility) and stop")

    tumors = commands.add_parser("tumors", help="list a case's tumors: id, volume, max diameter, centroid, eligibility")
    tumors.add_argument("case", help="case.toml")

    sweep = commands.add_parser("sweep", help="run a parameter sweep, locally or on a Dask cluster")
    sweep.add_argument("sweep", help="sweep.toml")
    sweep.add_argument("--out", help="results folder (default: <sweep folder>/sweep-results)")
    sweep.add_argument("--workers", type=int, default=None, help="local worker processes")
    sweep.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:port)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")

    commands.add_parser("probes", help="list the probe catalog")

    from rfasim.assess.command import add_arguments as add_assess_arguments

    add_assess_arguments(commands.add_parser(
        "assess", help="after the ablation: fuse pre/post CT and measure the achieved margin"))
    return parser


def _plan(case_path: Path, out: Path, force: bool, quiet: bool, animate: bool = False,
          spacing_mm: float | None = None) -> int:
    from rfasim.atomic import check_writable_folder
    from rfasim.case import load_case
    from rfasim.plan.outputs import summary_text, write_plan_folder
    from rfasim.plan.pipeline import run_case

    case = load_case(case_path)
    if spacing_mm is not None:
        case.spacing_mm = spacing_mm  # recorded in metrics.json (run.spacing_mm)
    check_writable_folder(out, "--out")  # before the simulation, not after it
    plan = run_case(case, force=force, progress=not quiet, snapshot_interval_s=10.0 if animate else None)
    write_plan_folder(plan, out)
    print(summary_text(plan))
    print(f"plan folder: {out}")
    if not plan.simulated:
        return EXIT_REFUSED
    return EXIT_OK


def _run(arguments: argparse.Namespace) -> int:
    if arguments.command == "probes":
        from rfasim.probes import catalog_table

        print(catalog_table())
        return EXIT_OK
    if arguments.command == "phantom":
        from rfasim.errors import InputError
        from rfasim.phantoms import list_phantoms, write_phantom

        if arguments.list:
            for name, description in list_phantoms():
                print(f"{name:14s} {description}")
            return EXIT_OK
        if not arguments.name or not arguments.out:
            raise InputError("rfasim phantom needs a NAME and --out DIR (or --list)")
        from rfasim.atomic import check_writable_folder
        from rfasim.phantoms.catalog import make_spec

        make_spec(arguments.name)  # an unknown name first
        check_writable_folder(arguments.out, "--out")
        paths = write_phantom(arguments.name, arguments.out)
        for path in paths.values():
            print(path)
        return EXIT_OK
    if arguments.command == "demo":
        from rfasim.atomic import check_writable_folder
        from rfasim.phantoms import DEFAULT_PHANTOM, write_phantom

        start = time.perf_counter()
        out = Path(arguments.out)
        check_writable_folder(out, "--out")
        paths = write_phantom(DEFAULT_PHANTOM, out / "input")
        code = _plan(Path(paths["case"]), out, force=False, quiet=arguments.quiet, spacing_mm=arguments.spacing)
        print(f"demo finished in {time.perf_counter() - start:.1f} s")
        return code
    if arguments.command == "tumors" or (arguments.command == "plan" and arguments.list_tumors):
        from rfasim.case import load_case
        from rfasim.plan.tumor_list import tumor_table

        print(tumor_table(load_case(arguments.case)))
        return EXIT_OK
    if arguments.command == "plan":
        case_path = Path(arguments.case)
        out = Path(arguments.out) if arguments.out else case_path.parent / "plan"
        return _plan(case_path, out, arguments.force, arguments.quiet, arguments.animate)
    if arguments.command == "sweep":
        from rfasim.errors import InputError
        from rfasim.sweep import run_sweep_file

        if arguments.workers is not None and arguments.workers < 1:
            raise InputError(f"--workers {arguments.workers}: need at least one worker process")
        return run_sweep_file(
            arguments.sweep, out=arguments.out, workers=arguments.workers, scheduler=arguments.scheduler,
            progress=not arguments.quiet,
        )
    if arguments.command == "assess":
        from rfasim.assess.command import run as run_assess

        return run_assess(arguments)
    raise AssertionError(arguments.command)  # pragma: no cover


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rfasim`` console script; returns the exit code."""
    arguments = _parser().parse_args(argv)
    from rfasim.errors import InputError, NotEligibleError

    previous = _interrupt_on_sigterm()
    try:
        return _run(arguments)
    except InputError as error:
        sys.stderr.write(f"rfasim: error: {error}\n")
        return EXIT_BAD_INPUT
    except NotEligibleError as error:
        sys.stderr.write(f"rfasim: refused: {error}\n")
        return EXIT_REFUSED
    except KeyboardInterrupt:
        sys.stderr.write("rfasim: interrupted\n")
        return EXIT_ERROR
    except Exception as error:  # anything else: exit code 1, one line plus where to look
        sys.stderr.write(f"rfasim: internal error: {type(error).__name__}: {error}\n")
        if "RFASIM_DEBUG" in os.environ:
            raise
        sys.stderr.write("rfasim: set RFASIM_DEBUG=1 for the traceback\n")
        return EXIT_ERROR
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt_on_sigterm() -> Any:
    """Make SIGTERM (``kill``) interrupt like Ctrl-C, so that partial output is cleaned up."""

    def interrupt(signum: int, frame: Any) -> None:  # noqa: ARG001 - signal handler signature
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave the signal alone
        return None


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
