"""Running a sweep on Dask: a local cluster by default, or a cluster's scheduler by address.

One code path for both: a :class:`dask.distributed.Client`, runs submitted as futures and
consumed with :func:`dask.distributed.as_completed`.  Each run's row is recorded the moment it
arrives (see :mod:`rfasim.sweep.results`), so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rfasim.atomic import check_writable_folder, write_json
from rfasim.errors import InputError
from rfasim.sweep.fingerprint import changed_images, image_fingerprints
from rfasim.sweep.results import ResultStore, make_row
from rfasim.sweep.spec import SweepSpec, load_sweep

if TYPE_CHECKING:  # pandas is imported where a table is made: a worker never needs it
    import pandas as pd

#: Seconds to wait for a scheduler given by address before giving up (exit code 2).
SCHEDULER_TIMEOUT_S = 5
#: Least seconds between two rewrites of the consolidated table during a sweep.
TABLE_INTERVAL_S = 2.0
MANIFEST = "sweep.json"
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (its
#: ``distributed.nanny.pre-spawn-environ``), so that glibc hands freed memory back to the system at
#: once.  A run allocates and frees the same grid-sized arrays thousands of times, and each one
#: then comes back as fresh pages to fault in: measured on the sweep benchmark's runs (liver-25mm,
#: 1 mm, 120 s, one Numba thread; runs 2-6 of six, the first also loads the kernels), the
#: simulation took 2.40-2.95 s with the setting and 1.75-2.12 s without, the plan's measurement
#: 0.13-0.18 s against 0.07-0.08 s (``benchmarks/README.md``).
#: The local clusters of :func:`open_client` start their workers without it (glibc's own,
#: adaptive thresholds); a cluster of one's own can be configured the same way (``docs/sweep-file.md``).
UNSET_BEFORE_SPAWN = ("MALLOC_TRIM_THRESHOLD_",)

EXIT_OK, EXIT_FAILED_RUNS, EXIT_BAD_INPUT = 0, 1, 2

logger = logging.getLogger(__name__)


class SchedulerError(InputError):
    """No Dask scheduler answered at the given address (exit code 2: the address is at fault)."""


@dataclass
class SweepResult:
    """What a sweep did.

    Attributes
    ----------
    folder : Path
        The results folder.
    table : pandas.DataFrame
        One row per run of the sweep that has a result (see ``results.csv``).
    executed : int
        Runs computed by this call.
    skipped : int
        Runs found finished in the folder and not run again.
    plots : list of Path
        Summary plots written.
    """

    folder: Path
    table: pd.DataFrame
    executed: int = 0
    skipped: int = 0
    plots: list[Path] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Runs per status (``ok``, ``failed``, ``refused``)."""
        statuses = self.table["status"].value_counts() if not self.table.empty else {}
        return {status: int(statuses.get(status, 0)) for status in ("ok", "failed", "refused")}

    @property
    def exit_code(self) -> int:
        """0 when every run has a result (ok or refused), 1 when some failed."""
        return EXIT_FAILED_RUNS if self.counts["failed"] else EXIT_OK


def default_workers() -> int:
    """Number of local worker processes by default: the cores this process may use.

    Returns
    -------
    int
        At least 1.
    """
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not Linux
        return max(os.cpu_count() or 1, 1)


def open_client(scheduler: str | None = None, workers: int | None = None, *, threads_per_worker: int = 1,
                numba_threads: int = 1) -> Any:
    """A Dask client: on the scheduler at ``scheduler``, or on a new local cluster of processes.

    Parameters
    ----------
    scheduler : str, optional
        Scheduler address (``tcp://host:8786``).  Unreachable: :class:`SchedulerError` within
        :data:`SCHEDULER_TIMEOUT_S` seconds.
    workers : int, optional
        Local worker processes (default: :func:`default_workers`).
    threads_per_worker : int
        Dask threads per local worker process (runs at once per process).
    numba_threads : int
        Numba / OpenMP / BLAS threads per local worker process (``NUMBA_NUM_THREADS`` etc.).

    Returns
    -------
    dask.distributed.Client
        Close it with :func:`close_client`.
    """
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError) as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise SchedulerError(
                f"--scheduler {scheduler}: no Dask scheduler answered within {SCHEDULER_TIMEOUT_S} s ({message})"
            ) from None
    count = default_workers() if workers is None else workers
    if count < 1:
        raise InputError(f"--workers {count}: need at least one worker")
    import dask

    environment = {name: str(numba_threads) for name in THREAD_VARIABLES}
    # A None value removes a variable from the nanny's pre-spawn environment (read when each
    # nanny is made, i.e. inside this block; restarts keep it).
    unset = {f"distributed.nanny.pre-spawn-environ.{name}": None for name in UNSET_BEFORE_SPAWN}
    with dask.config.set(unset):
        cluster = LocalCluster(
            n_workers=count, threads_per_worker=threads_per_worker, processes=True, env=environment,
            dashboard_address=None, silence_logs=logging.ERROR,
        )
    return Client(cluster)


def close_client(client: Any) -> None:
    """Close a client and, when :func:`open_client` made it, its local cluster.

    Parameters
    ----------
    client : distributed.Client
        As returned by :func:`open_client`.
    """
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def execute_run(run_id: str, index: int, inputs: dict[str, Any], case_data: dict[str, Any], case_path: str,
                plan_folder: str | None, force: bool, numba_threads: int | None = None) -> dict[str, Any]:
    """Compute one run (on a worker) and return its result row; never raises for a failed run.

    Parameters
    ----------
    run_id, index, inputs, case_data : see :class:`rfasim.sweep.spec.RunSpec`
    case_path : str
        The base case file (paths in the case are relative to it; workers must see it).
    plan_folder : str or None
        Where to write the run's plan folder, if wanted.
    force : bool
        Simulate tumors that are not eligible.
    numba_threads : int, optional
        Numba threads for this run (default: the process's setting).

    Returns
    -------
    dict
        A row (:func:`rfasim.sweep.results.make_row`).
    """
    start = time.perf_counter()
    worker = f"{os.uname().nodename}:{os.getpid()}"
    try:
        if numba_threads:
            import numba

            numba.set_num_threads(max(1, min(numba_threads, numba.config.NUMBA_NUM_THREADS)))
        from rfasim.case import parse_case
        from rfasim.plan.pipeline import run_case

        case = parse_case(case_data, Path(case_path))
        plan = run_case(case, force=force, progress=False)
        if plan_folder:
            from rfasim.plan.outputs import write_plan_folder

            write_plan_folder(plan, plan_folder)
        status = "ok" if plan.simulated else "refused"
        error = "" if plan.simulated else str(plan.metrics["eligibility"].get("reason", ""))
        return make_row(run_id, index, inputs, status, metrics=plan.metrics, error=error,
                        error_type="" if plan.simulated else "NotEligible", wall_s=time.perf_counter() - start,
                        extra={"worker": worker, "plan_folder": plan_folder or ""})
    except Exception as error:  # a failed run is recorded, never fatal to the sweep
        message = f"{error}" or type(error).__name__
        if not isinstance(error, InputError):
            where = traceback.extract_tb(error.__traceback__)[-1]
            message = f"{message} (at {Path(where.filename).name}:{where.lineno})"
        return make_row(run_id, index, inputs, "failed", error=message, error_type=type(error).__name__,
                        wall_s=time.perf_counter() - start, extra={"worker": worker, "plan_folder": ""})


def _manifest(spec: SweepSpec) -> dict[str, Any]:
    from rfasim import __version__

    return {
        "rfasim_version": __version__,
        "sweep_file": str(spec.path.resolve()),
        "base_case": str(spec.case_path),
        "case_fingerprint": spec.case_fingerprint(),
        "image_fingerprints": _image_fingerprints(spec),
        "design": spec.design,
        "parameters": spec.parameter_paths,
        "runs": [{"run_id": r.run_id, "index": r.index, "inputs": r.inputs} for r in spec.runs],
    }


def _check_folder(spec: SweepSpec, folder: Path) -> None:
    """A results folder belongs to one base case: refuse to mix results of another."""
    import json

    manifest = folder / MANIFEST
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: the sweep output must be a folder")
    if not manifest.is_file():
        return
    try:
        previous = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if previous.get("case_fingerprint") not in (None, spec.case_fingerprint()):
        raise InputError(
            f"{folder}: holds results of a different base case ({previous.get('base_case')}); "
            "choose another --out folder"
        )
    changed = changed_images(previous.get("image_fingerprints"), _image_fingerprints(spec))
    if changed:
        raise InputError(
            f"{folder}: holds results computed on another version of the image {changed[0]} (its content "
            "changed since); choose another --out folder"
        )


def _image_fingerprints(spec: SweepSpec) -> dict[str, str]:
    return image_fingerprints([spec.case_data, *(run.case_data for run in spec.runs)], spec.case_path.parent)


def run_sweep(spec: SweepSpec, out: str | Path | None = None, *, workers: int | None = None,
              scheduler: str | None = None, client: Any = None, progress: bool = True,
              threads_per_worker: int = 1, numba_threads: int = 1, plots: bool = True) -> SweepResult:
    """Run a sweep (resuming: runs already finished in ``out`` are skipped).

    Parameters
    ----------
    spec : SweepSpec
        From :func:`rfasim.sweep.load_sweep`.
    out : str or Path, optional
        Results folder (default: ``sweep-results`` beside the sweep file).
    workers : int, optional
        Local worker processes (default: the usable cores); ignored with ``scheduler`` or ``client``.
    scheduler : str, optional
        Address of a Dask scheduler; the workers must see the case files (and ``out`` when
        ``save_plans``) at the same paths.
    client : dask.distributed.Client, optional
        An open client to use (left open).
    progress : bool
        Progress bar on stderr (runs done / failed / remaining).
    threads_per_worker, numba_threads : int
        Local cluster layout: runs at once per process, and Numba threads per process.
    plots : bool
        Write the summary plots (``plots/``) at the end.

    Returns
    -------
    SweepResult

    Raises
    ------
    InputError
        Bad input or an unreachable scheduler, before anything is written.
    KeyboardInterrupt
        After recording the finished runs and cancelling the others.
    """
    from dask.distributed import as_completed
    from tqdm import tqdm

    folder = Path(out) if out is not None else spec.path.parent / "sweep-results"
    folder = folder.resolve()
    _check_folder(spec, folder)
    check_writable_folder(folder, "--out")
    own_client = client is None
    if own_client:
        client = open_client(scheduler, workers, threads_per_worker=threads_per_worker, numba_threads=numba_threads)
    store: ResultStore | None = None
    futures: list[Any] = []
    executed = 0
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / MANIFEST, _manifest(spec))
        store = ResultStore(folder, [run.run_id for run in spec.runs])
        done = store.finished()
        todo = [run for run in spec.runs if run.run_id not in done]
        skipped = len(spec.runs) - len(todo)
        bar = tqdm(total=len(spec.runs), initial=skipped, desc="sweep", unit="run", disable=not progress,
                   dynamic_ncols=True)
        counts = {status: sum(1 for r in done if store.rows[r]["status"] == status) for status in ("ok", "failed", "refused")}

        def show(refresh: bool) -> None:
            bar.set_postfix_str(
                f"ok {counts['ok']}, failed {counts['failed']}, refused {counts['refused']}, "
                f"remaining {len(spec.runs) - sum(counts.values())}", refresh=refresh,
            )

        show(True)
        by_key = {}
        attempt = uuid.uuid4().hex[:8]  # a fresh key: a retried run must not meet its old erred task
        for run in todo:
            plan_folder = str(folder / "plans" / run.run_id) if spec.save_plans else None
            future = client.submit(
                execute_run, run.run_id, run.index, run.inputs, run.case_data, str(spec.case_path), plan_folder,
                spec.force, numba_threads, key=f"rfasim-run-{run.run_id}-{attempt}", pure=False,
            )
            futures.append(future)
            by_key[future.key] = run
        last_write = time.monotonic()
        for future in as_completed(futures):
            run = by_key[future.key]
            try:
                row = future.result()
            except Exception as error:  # the task itself was lost: a worker died, a connection broke
                row = make_row(run.run_id, run.index, run.inputs, "failed", error=f"{type(error).__name__}: {error}",
                               error_type=type(error).__name__)
            store.add(row)
            executed += 1
            counts[row["status"]] = counts.get(row["status"], 0) + 1
            show(False)
            bar.update(1)
            if time.monotonic() - last_write > TABLE_INTERVAL_S:
                store.write_table()
                last_write = time.monotonic()
        bar.close()
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    finally:
        if store is not None:
            store.write_table()
        if own_client:
            close_client(client)
    table = store.write_table()
    result = SweepResult(folder=folder, table=table, executed=executed, skipped=skipped)
    if plots:
        from rfasim.sweep.plots import write_summary_plots

        try:
            result.plots = write_summary_plots(spec, table, folder / "plots")
        except Exception as error:  # a picture must never sink a computed sweep
            logger.warning("sweep plots not written: %s: %s", type(error).__name__, error)
    return result


def run_sweep_file(path: str | Path, out: str | Path | None = None, workers: int | None = None,
                   scheduler: str | None = None, progress: bool = True) -> int:
    """Run a sweep file (``rfasim sweep``) and return the exit code.

    Parameters
    ----------
    path : str or Path
        The ``sweep.toml``.
    out : str or Path, optional
        Results folder (default: ``sweep-results`` beside the sweep file).
    workers : int, optional
        Local worker processes.
    scheduler : str, optional
        Dask scheduler address.
    progress : bool
        Progress bar and a one-line summary.

    Returns
    -------
    int
        0 every run has a result (ok, or refused by the eligibility rule); 1 some runs failed
        (each recorded with its error; the others finished); 2 is raised as
        :class:`~rfasim.errors.InputError` (bad sweep file, invalid run case, unreachable
        scheduler), which the command line maps onto exit code 2.
    """
    spec = load_sweep(path)
    result = run_sweep(spec, out, workers=workers, scheduler=scheduler, progress=progress)
    counts = result.counts
    print(  # noqa: T201 - the command's summary on standard output
        f"sweep: {len(spec.runs)} runs ({result.executed} run now, {result.skipped} already done): "
        f"{counts['ok']} ok, {counts['failed']} failed, {counts['refused']} refused"
    )
    print(f"results: {result.folder / 'results.parquet'}")  # noqa: T201 - command output
    return result.exit_code
