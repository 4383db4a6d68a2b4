"""Bootstrap replicates of an EM fit: resample (or simulate), refit from the MLE, align.

Every replicate has its own generator, spawned from the user's ``rng``, so
the replicates do not depend on how they are spread over worker processes.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from ._align import match_components
from ._engine import fit_estimate
from ._jobs import ordered_map
from ._model import Params, Scaling
from ._theta import Layout, natural, pack
from .sample import sample

SCHEMES = frozenset({"nonparametric", "parametric"})


class Replicates(NamedTuple):
    """Aligned bootstrap estimates of the successful refits.

    Attributes
    ----------
    weights : ndarray of shape (n_ok, n_components)
    means, sds, variances : ndarray
        Shape (n_ok, n_components), or (n_ok, n_components, n_features) for d > 1.
    parameters : ndarray of shape (n_ok, n_parameters)
        The free-parameter vector (user scale) of each replicate.
    failures : tuple of (int, str)
        Index and reason of each failed refit.
    """

    weights: np.ndarray
    means: np.ndarray
    sds: np.ndarray
    variances: np.ndarray
    parameters: np.ndarray
    failures: tuple

    def failure_counts(self) -> dict[str, int]:
        """Failed refits counted by kind (:func:`failure_kind`), most frequent first."""
        counts: dict[str, int] = {}
        for _, reason in self.failures:
            kind = failure_kind(reason)
            counts[kind] = counts.get(kind, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


#: reason prefixes of a failed refit and the kind each belongs to (other reasons are
#: exceptions, named by their type)
_KINDS = (("degenerate", "degenerate"), ("did not converge", "did not converge"),
          ("non-finite", "non-finite estimates"))


def failure_kind(reason: str) -> str:
    """Return the kind of a failed refit's reason (degenerate, did not converge...)."""
    for prefix, kind in _KINDS:
        if reason.startswith(prefix):
            return kind
    return reason.split(":")[0]


class _Context(NamedTuple):
    X: np.ndarray
    n_components: int
    scheme: str
    fit_kwargs: dict
    mle: Params  # user scale
    reference: Params  # internal scale, for matching
    scaling: Scaling
    lay: Layout
    one_d: bool


_WORKER_CTX: _Context | None = None


def _init_worker(ctx: _Context) -> None:
    global _WORKER_CTX
    _WORKER_CTX = ctx


def _draw(ctx: _Context, rng: np.random.Generator) -> np.ndarray:
    n = ctx.X.shape[0]
    if ctx.scheme == "nonparametric":
        return ctx.X[rng.integers(0, n, size=n)]
    w, m, c = ctx.mle
    if ctx.one_d:
        return sample(n, w, m[:, 0], c[:, 0, 0], rng=rng)[0]
    return sample(n, w, m, covariances=c, rng=rng)[0]


#: restarts tried on a resample whose refit from the MLE failed (degenerate, not converged)
RETRY_RESTARTS = 5


def _refit(ctx: _Context, Xb: np.ndarray, rng: np.random.Generator):
    """Refit from the MLE; if that fails, from ``RETRY_RESTARTS`` k-means++ restarts.

    Returns ``(estimate, None)`` or ``(None, reason)`` (the MLE start's reason
    when the restarts fail too).
    """
    def attempt(**kw):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fb = fit_estimate(Xb, ctx.n_components, **kw)
            except Exception as err:  # a failed refit is counted, not raised
                return None, f"{type(err).__name__}: {err}"
        if not fb.converged:
            return None, f"did not converge in {fb.n_iter} iterations"
        if np.any(fb.degenerate):
            return None, "degenerate component(s) " + str(np.flatnonzero(fb.degenerate).tolist())
        return fb, None

    fb, reason = attempt(**ctx.fit_kwargs)
    if fb is None:
        kw = {k: v for k, v in ctx.fit_kwargs.items() if k != "init"}
        fb2, _ = attempt(**{**kw, "n_init": RETRY_RESTARTS, "rng": rng})
        if fb2 is not None:
            return fb2, None
    return fb, reason


def replicate(ctx: _Context, rng: np.random.Generator):
    """One replicate: ``(natural quantities dict, theta_user)`` or ``(None, reason)``.

    The refit starts from the MLE; when that fails, from the usual restarts too.
    """
    Xb = _draw(ctx, rng)
    fb, reason = _refit(ctx, Xb, rng)
    if fb is None:
        return None, reason
    user = fb.params
    perm, _ = match_components(ctx.reference, ctx.scaling.to_internal(user))
    aligned = Params(user.weights[perm], user.means[perm], user.covariances[perm])
    theta = pack(aligned, ctx.lay)
    nat = natural(aligned)
    if not (np.all(np.isfinite(theta)) and all(np.all(np.isfinite(v)) for v in nat.values())):
        return None, "non-finite estimates"
    return nat, theta


def _replicate_in_worker(rng):
    return replicate(_WORKER_CTX, rng)


#: ``n_jobs="auto"`` starts worker processes when the remaining refits would take longer
#: than this in one process (a few times what starting the workers costs)
AUTO_PARALLEL_SECONDS = 6.0


def run_bootstrap(ctx: _Context, children: list, n_jobs, on_progress=None) -> Replicates:
    """Run the replicates in order, sequentially or in ``n_jobs`` worker processes.

    ``n_jobs="auto"``: the first replicates run here and are timed; the rest
    run on every CPU when they would take more than ``AUTO_PARALLEL_SECONDS``
    here (:func:`._jobs.ordered_map`). Each replicate depends only on its own
    generator, so the results are the same either way. ``on_progress(done,
    total)`` is called as replicates come back, in order.
    """
    outs = []

    def collect(results):
        for out in results:
            outs.append(out)
            if on_progress is not None:
                on_progress(len(outs), len(children))

    ordered_map(lambda c: replicate(ctx, c), _replicate_in_worker, children, n_jobs,
                initializer=_init_worker, initargs=(ctx,), collect=collect,
                auto_seconds=AUTO_PARALLEL_SECONDS)
    ok = [o for o in outs if o[0] is not None]
    failures = tuple((i, o[1]) for i, o in enumerate(outs) if o[0] is None)
    K, d = ctx.n_components, ctx.X.reshape(ctx.X.shape[0], -1).shape[1]
    shape = (len(ok), K) if ctx.one_d else (len(ok), K, d)

    def stack(key):
        if not ok:
            return np.empty(shape)
        return np.stack([o[0][key] for o in ok]).reshape(shape)

    return Replicates(
        weights=np.stack([o[0]["weights"] for o in ok]) if ok else np.empty((0, K)),
        means=stack("means"), sds=stack("sds"), variances=stack("variances"),
        parameters=np.stack([o[1] for o in ok]) if ok else np.empty((0, ctx.lay.size)),
        failures=failures)


def make_context(result, lay: Layout, scheme: str, tol: float, max_iter: int) -> _Context:
    """Everything a replicate needs, picklable for worker processes."""
    spec, s = result.spec, result.scaling
    K, d = spec.n_components, spec.n_features
    fixed = {}
    if spec.fixed:
        f = spec.fixed
        full = s.to_user(Params(f.get("weights", np.ones(K) / K), f.get("means", np.zeros((K, d))),
                                f.get("covariances", np.broadcast_to(np.eye(d), (K, d, d)))))
        fixed = {k: np.asarray(getattr(full, k)) for k in spec.fixed}
    mle = result.params()
    init = {"weights": mle.weights, "means": mle.means, "covariances": mle.covariances}
    fit_kwargs = {"algorithm": result.algorithm, "structure": spec.structure,
                  "fixed": fixed or None, "init": init, "n_init": 1, "tol": tol,
                  "max_iter": max_iter, "var_floor": result.var_floor}
    return _Context(np.asarray(result.data), K, scheme, fit_kwargs, mle, s.to_internal(mle), s,
                    lay, spec.one_d)
