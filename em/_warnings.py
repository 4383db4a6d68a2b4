"""Warning and error classes of mixcompare.

They live in ``em`` because every other package builds on it; the test
configuration turns ``MixcompareWarning`` into an error unless a test
expects it.
"""


class MixcompareWarning(UserWarning):
    """Base class of every warning mixcompare emits."""


class ConvergenceWarning(MixcompareWarning):
    """An iterative fit stopped at ``max_iter`` before meeting ``tol``."""


class DegenerateWarning(MixcompareWarning):
    """A component collapsed (variance floor reached, or almost no points)."""


class SymmetricStartWarning(MixcompareWarning):
    """Initial components coincide: a symmetric start is a fixed point of EM."""


class IdentifiabilityWarning(MixcompareWarning):
    """An information matrix is singular or ill-conditioned for a parameter."""


class MonotonicityError(RuntimeError):
    """EM decreased its objective beyond round-off: this is a bug, please report it."""
