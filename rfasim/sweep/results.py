"""Sweep results: one row per run, kept as ``runs/<run id>.json`` and consolidated atomically.

Each finished run's row is written atomically to ``runs/<run id>.json`` the moment it arrives;
the tidy table (``results.parquet`` and ``results.csv``) is rewritten atomically from those rows
during the sweep (at most every few seconds) and at its end.  A row file is the proof that a run
finished: a resumed sweep skips those runs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rfasim.atomic import remove_stale, write_json, write_with

if TYPE_CHECKING:  # imported where a table is made: a worker (make_row) never needs pandas
    import pandas as pd

#: Prefix of the varied-input columns (``input.generator.power_w``); metric columns are unprefixed.
INPUT_PREFIX = "input."
STATUSES = ("ok", "failed", "refused")
#: Error types of failures that are not the run's own doing (lost worker...): retried on resume.
INFRASTRUCTURE_ERRORS = ("KilledWorker", "CommunicationError", "CancelledError", "FutureCancelledError",
                         "TimeoutError", "OSError")
RUNS_FOLDER = "runs"
TABLE_PARQUET = "results.parquet"
TABLE_CSV = "results.csv"
FIRST_COLUMNS = ("run_id", "index", "status", "error", "error_type", "wall_s")


def flatten_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every scalar of a ``metrics.json`` dict under a dotted name (``zone.volume_ml``...).

    Numeric lists (``zone.axes_mm``) become one column per element (``zone.axes_mm.0``...), lists
    of strings (``warnings``) one ``" | "``-joined string; lists of tables (``heat_sink``) give
    their length (``heat_sink.count``).

    Parameters
    ----------
    metrics : dict
    prefix : str
        Prefix of the names (used in the recursion).

    Returns
    -------
    dict of str to scalar
    """
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_metrics(value, f"{name}."))
        elif isinstance(value, list):
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                for number, item in enumerate(value):
                    flat[f"{name}.{number}"] = item
            elif all(isinstance(v, str) for v in value):
                flat[name] = " | ".join(value)
            else:
                flat[f"{name}.count"] = len(value)
        else:
            flat[name] = value
    return flat


def input_columns(inputs: dict[str, Any]) -> dict[str, Any]:
    """The varied inputs as table columns: ``input.<path>``; a vector also as ``input.<path>.0..2``.

    Vector inputs (tip offsets) are stored as JSON text in ``input.<path>`` (so CSV and Parquet
    agree) and as numbers in the component columns.

    Parameters
    ----------
    inputs : dict
        Parameter path to value (in the case file's units).

    Returns
    -------
    dict
        Column name to value.
    """
    columns: dict[str, Any] = {}
    for path, value in inputs.items():
        if isinstance(value, list):
            columns[INPUT_PREFIX + path] = json.dumps(value)
            for number, item in enumerate(value):
                columns[f"{INPUT_PREFIX}{path}.{number}"] = item
        else:
            columns[INPUT_PREFIX + path] = value
    return columns


def make_row(run_id: str, index: int, inputs: dict[str, Any], status: str, *, metrics: dict[str, Any] | None = None,
             error: str = "", error_type: str = "", wall_s: float = math.nan, extra: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    """One result row (see the module docstring for the columns).

    Parameters
    ----------
    run_id : str
        The run's id (a hash of its inputs).
    index : int
        The run's position in the design.
    inputs : dict
        Parameter path to value.
    status : {"ok", "failed", "refused"}
        How the run ended.
    metrics : dict, optional
        The run's metrics (nested; flattened into columns).
    error, error_type : str
        Message and exception type of a failed or refused run.
    wall_s : float
        Wall time of the run (s).
    extra : dict, optional
        More columns.

    Returns
    -------
    dict
        Column name to value.
    """
    row: dict[str, Any] = {
        "run_id": run_id, "index": index, "status": status, "error": error, "error_type": error_type,
        "wall_s": round(float(wall_s), 3),
    }
    row.update(input_columns(inputs))
    row.update(extra or {})
    if metrics:
        row.update(flatten_metrics(metrics))
    return row


def is_finished(row: dict[str, Any]) -> bool:
    """Whether a recorded run is final (skipped on resume): ok, refused, or failed by itself.

    Parameters
    ----------
    row : dict
        A recorded result row.

    Returns
    -------
    bool
        False for runs lost to the infrastructure (:data:`INFRASTRUCTURE_ERRORS`): they run again.
    """
    if row.get("status") in ("ok", "refused"):
        return True
    return row.get("status") == "failed" and row.get("error_type") not in INFRASTRUCTURE_ERRORS


class ResultStore:
    """The results folder of one sweep: per-run row files and the consolidated table.

    Parameters
    ----------
    folder : Path
        The results folder (``runs/`` and the tables go here).
    run_ids : list of str
        The sweep's runs in design order (rows of other runs found in ``runs/`` stay there but
        are left out of the table).
    """

    def __init__(self, folder: Path, run_ids: list[str]) -> None:
        self.folder = Path(folder)
        self.run_ids = list(run_ids)
        self.rows: dict[str, dict[str, Any]] = {}
        runs = self.folder / RUNS_FOLDER
        for stale in (self.folder, runs):  # partial tables and rows a killed sweep left behind
            remove_stale(stale)
        wanted = set(self.run_ids)
        if runs.is_dir():
            for file in runs.glob("*.json"):
                if file.stem not in wanted:
                    continue
                try:
                    self.rows[file.stem] = json.loads(file.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue  # an unreadable row file: the run is simply done again

    def finished(self) -> set[str]:
        """Run ids that a resumed sweep skips.

        Returns
        -------
        set of str
            Ids of the runs with a final row (see :func:`is_finished`).
        """
        return {run_id for run_id, row in self.rows.items() if is_finished(row)}

    def add(self, row: dict[str, Any]) -> None:
        """Record a run's row (atomically, in ``runs/<run id>.json``).

        Parameters
        ----------
        row : dict
            The run's result row, as :func:`make_row` builds it.
        """
        self.rows[row["run_id"]] = row
        write_json(self.folder / RUNS_FOLDER / f"{row['run_id']}.json", _json_safe(row))

    def table(self) -> pd.DataFrame:
        """The tidy table: one row per recorded run, in design order.

        Returns
        -------
        pandas.DataFrame
            Run id, index, status, error and wall time first, then the inputs, then the metrics.
        """
        ordered = [self.rows[run_id] for run_id in self.run_ids if run_id in self.rows]
        import pandas as pd

        frame = pd.DataFrame(ordered)
        if frame.empty:
            frame = pd.DataFrame(columns=list(FIRST_COLUMNS))
        first = [c for c in FIRST_COLUMNS if c in frame.columns]
        inputs = [c for c in frame.columns if c.startswith(INPUT_PREFIX)]
        rest = [c for c in frame.columns if c not in first and c not in inputs]
        return frame[first + inputs + rest]

    def write_table(self) -> pd.DataFrame:
        """Rewrite ``results.parquet`` and ``results.csv`` atomically; returns the table.

        Returns
        -------
        pandas.DataFrame
            The table as written.
        """
        frame = self.table()
        for column in frame.columns:  # mixed object columns upset Parquet
            if frame[column].dtype != object:
                continue
            present = [v for v in frame[column] if v is not None and not (isinstance(v, float) and math.isnan(v))]
            if present and all(isinstance(v, bool) for v in present):
                frame[column] = frame[column].astype("boolean")
            elif not all(isinstance(v, str) for v in present):
                frame[column] = frame[column].map(lambda v: v if v is None or isinstance(v, str) else json.dumps(v))
        write_with(self.folder / TABLE_PARQUET, lambda path: frame.to_parquet(path, index=False))
        write_with(self.folder / TABLE_CSV, lambda path: frame.to_csv(path, index=False))
        return frame


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        return _json_safe(value.item())
    return value


def read_results(folder: str | Path) -> pd.DataFrame:
    """Read a sweep's table (``results.parquet``, else ``results.csv``).

    Parameters
    ----------
    folder : str or Path
        The results folder (or the table file itself).

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    path = Path(folder)
    if path.is_file():
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    if (path / TABLE_PARQUET).is_file():
        return pd.read_parquet(path / TABLE_PARQUET)
    return pd.read_csv(path / TABLE_CSV)
