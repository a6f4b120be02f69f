"""docs/validation.md must be regenerated whenever the physics it reports on changes."""

from __future__ import annotations

import freshness


def test_hashed_files_cover_the_physics() -> None:
    names = {path.relative_to(freshness.REPOSITORY).as_posix() for path in freshness.hashed_files()}
    for required in ("rfasim/tissue.py", "rfasim/data/probes/cooltip-17g-3cm.toml",
                     "benchmarks/validation/experiments/lee2009-cooled-2cm-ex-vivo.toml"):
        assert required in names
    assert any(name.startswith("rfasim/physics/") for name in names)
    assert any(name in ("rfasim/solver.py", "rfasim/simulation.py") or name.startswith("rfasim/simulation/")
               for name in names)


def test_hash_changes_with_a_file(tmp_path) -> None:
    (tmp_path / "rfasim").mkdir()
    (tmp_path / "rfasim" / "tissue.py").write_text("A = 1\n")
    before = freshness.physics_hash(tmp_path)
    (tmp_path / "rfasim" / "tissue.py").write_text("A = 2\n")
    assert freshness.physics_hash(tmp_path) != before


def test_validation_page_is_fresh() -> None:
    stored = freshness.page_hash()
    assert stored is not None, f"{freshness.PAGE} holds no physics-hash marker"
    assert stored == freshness.physics_hash(), (
        f"{freshness.PAGE} was generated from other physics/defaults files than HEAD's: regenerate it with "
        "`python benchmarks/validation/run_validation.py` (or `--quick`) and commit the page and results"
    )


def test_plan_error_file_was_made_with_the_page() -> None:
    """rfasim/data/validation_errors.toml (what plans report) comes from the same run as the page."""
    from rfasim.plan.uncertainty import load_validation_errors

    table = load_validation_errors()
    if not table:
        return  # no file: every plan says "not validated"
    assert table.get("physics_hash") == freshness.page_hash(), (
        "rfasim/data/validation_errors.toml and docs/validation.md were made on different physics: rerun "
        "`python benchmarks/validation/run_validation.py` (it writes both) and commit them"
    )
