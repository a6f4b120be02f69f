"""The per-process cache of a case's inputs (a sweep runs one case many times in a worker)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from rfasim.case import load_case
from rfasim.plan import pipeline
from rfasim.process_cache import ReadOnlyCache


def test_a_case_read_twice_is_read_once_and_again_when_its_labels_change(small_case, monkeypatch):
    case_path = small_case("liver-25mm")
    reads = []
    original = pipeline.load_labels

    def counting(path):
        reads.append(path)
        return original(path)

    monkeypatch.setattr(pipeline, "load_labels", counting)
    monkeypatch.setattr(pipeline, "_INPUTS_CACHE", ReadOnlyCache(2, pipeline._input_arrays))
    case = load_case(case_path)
    first = pipeline._read_inputs(case)
    second = pipeline._read_inputs(load_case(case_path))
    assert len(reads) == 1
    assert second.classes is first.classes and second.warnings == first.warnings
    assert second.warnings is not first.warnings and second.tumors is not first.tumors
    # What the next run reads cannot be changed by this one.
    for array in (second.classes, second.labels.data, second.tumors[0].box_mask):
        with pytest.raises(ValueError):
            array.flat[0] = array.flat[0]
    # A rewritten label file (new modification time) is read again.
    status = os.stat(case.labels_path)
    os.utime(case.labels_path, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))
    third = pipeline._read_inputs(load_case(case_path))
    assert len(reads) == 2
    np.testing.assert_array_equal(third.classes, first.classes)


def test_cached_inputs_give_the_same_plan(small_case, monkeypatch):
    monkeypatch.setattr(pipeline, "_INPUTS_CACHE", ReadOnlyCache(2, pipeline._input_arrays))
    case = load_case(small_case("liver-25mm"))
    first = pipeline.run_case(case, progress=False)
    second = pipeline.run_case(case, progress=False)
    assert len(pipeline._INPUTS_CACHE) == 1
    assert first.metrics["zone"] == second.metrics["zone"]
    assert first.metrics["margin"] == second.metrics["margin"]
