"""RF generator protocols: what power the generator asks for, moment by moment.

Modes (registered in :data:`GENERATOR_MODES`; their dataclass fields are the case-file keys):

- :class:`ConstantPower` (``constant-power``)
- :class:`ImpedanceControlled` (``impedance``; Cool-tip style: pause when impedance rises above baseline)
- :class:`TemperatureControlled` (``temperature``; multi-tine style: PID on the tip thermocouples)
- :class:`RampSchedule` (``ramp``; LeVeen style: power ramp with the two-roll-off rule)

and :class:`Switched`, one generator switched between probes on a schedule (wraps any mode).
A new mode is one new file (see :mod:`rfasim.generators.base` and ``docs/extending.md``).
"""

from rfasim.generators.base import (
    COMMON_GENERATOR_KEYS,
    GENERATOR_MODES,
    Generator,
    GeneratorCommand,
    GeneratorLimits,
    GeneratorReading,
    all_generator_keys,
    generator_from_table,
    generator_keys,
    generator_modes,
    register_generator,
)
from rfasim.generators.constant_power import ConstantPower
from rfasim.generators.impedance import ImpedanceControlled
from rfasim.generators.ramp import RampSchedule
from rfasim.generators.switched import Switched
from rfasim.generators.temperature import TemperatureControlled

__all__ = [
    "COMMON_GENERATOR_KEYS",
    "GENERATOR_MODES",
    "ConstantPower",
    "Generator",
    "GeneratorCommand",
    "GeneratorLimits",
    "GeneratorReading",
    "ImpedanceControlled",
    "RampSchedule",
    "Switched",
    "TemperatureControlled",
    "all_generator_keys",
    "generator_from_table",
    "generator_keys",
    "generator_modes",
    "register_generator",
]
