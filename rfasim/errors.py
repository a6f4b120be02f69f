"""Exceptions of rfasim.  The command line maps them onto the exit codes of the spec.

- :class:`InputError` (and subclasses): bad input, exit code 2.  Also a ``ValueError`` so that
  API users can catch either.
- :class:`NotEligibleError`: the plan was refused by a clinical rule, exit code 3.
- Anything else: exit code 1.
"""

from __future__ import annotations


class RfasimError(Exception):
    """Base class of rfasim's own errors."""


class InputError(RfasimError, ValueError):
    """Bad input: a file, field or value at fault.  The message names it in one line."""


class ImageError(InputError):
    """An image cannot be read or does not fit the case (shape, affine, NaN, dtype...)."""


class LabelError(InputError):
    """A label map problem: unknown codes, empty tumor label, non-integer labels."""


class TargetError(InputError):
    """The target tumor cannot be found (bad id, point outside every tumor)."""


class ProbeError(InputError):
    """A probe cannot be placed: unknown model, tip outside the image, zero-length direction..."""


class CaseFileError(InputError):
    """A case or sweep file is malformed: unknown key, missing key, wrong type."""


class ResourceError(InputError):
    """The run would not fit in memory: the message says what spacing or margin would."""


class NotEligibleError(RfasimError):
    """The target tumor is not eligible for RFA under the clinical rules (exit code 3)."""
