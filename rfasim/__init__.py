"""rfasim: radiofrequency ablation planning simulator.

A finite-volume Pennes bioheat solver coupled to the quasi-static RF electric field, JIT-compiled
with Numba, running on CT-derived liver volumes with electrodes placed in world millimetres.
"""

from __future__ import annotations

__version__ = "0.1.0"
