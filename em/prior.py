"""One prior specification for MAP-EM (``em``) and the PyMC models (``models``).

The prior is conjugate to the complete-data likelihood, so MAP-EM's M-step
has a closed form and the PyMC model uses the very same densities:

* weights ``w ~ Dirichlet(alpha)``;
* 1-D and ``diag`` (per dimension): ``sigma2_k ~ InvGamma(a, b)`` and
  ``mu_k | sigma2_k ~ Normal(m0, sigma2_k / kappa)``; with the 1-D ``equal``
  structure one shared ``sigma2`` carries the Inverse-Gamma prior;
* ``spherical``: one variance per component carrying the Inverse-Gamma
  density of every feature, ``prod_j InvGamma(sigma2_k | a, b_j)``, and
  ``mu_kj | sigma2_k ~ Normal(m0_j, sigma2_k / kappa)``;
* ``full``: Normal-Inverse-Wishart, ``Sigma_k ~ InvWishart(nu, psi)`` and
  ``mu_k | Sigma_k ~ Normal(m0, Sigma_k / kappa)``;
* ``tied`` (d > 1): one shared ``Sigma ~ InvWishart(nu, psi)`` and
  ``mu_k | Sigma ~ Normal(m0, Sigma / kappa)`` for every component.

The prior is placed on the *variance*. A MAP estimate is not invariant to
reparameterisation: the mode of the posterior of ``sigma`` or ``log sigma``
differs from the square root of the mode of ``sigma2``. Every comparison in
mixcompare uses the variance parameterisation on both sides, and densities
are evaluated without Jacobian terms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy.special import gammaln, multigammaln

from ._model import Params, Spec
from ._validation import validate_data

__all__ = ["Prior"]

_LOG_2PI = float(np.log(2 * np.pi))


def _wishart(spec: Spec) -> bool:
    """Tell whether the covariances carry the Inverse-Wishart (``full``; ``tied`` unless 1-D)."""
    return spec.kind == "full" or (spec.kind == "tied" and not spec.one_d)


def _positive(name: str, value, minimum: float = 0.0) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= minimum):
        raise ValueError(
            f"prior hyper-parameter {name} must be > {minimum:g} everywhere, got {value!r}."
        )
    return arr


@dataclass(frozen=True)
class Prior:
    """Conjugate prior shared by MAP-EM and the PyMC models.

    Parameters
    ----------
    alpha : float or array_like of shape (n_components,), default 1.0
        Dirichlet concentration of the weights (> 0). MAP-EM needs
        ``alpha >= 1``: below 1 the mode of the weights is on the boundary.
    m0 : float or array_like of shape (n_features,)
        Prior centre of the means.
    kappa : float
        Prior precision of a mean relative to its component's variance (> 0):
        ``mu_k | sigma2_k ~ Normal(m0, sigma2_k / kappa)``.
    a : float
        Inverse-Gamma shape of the variances (> 0).
    b : float or array_like of shape (n_features,)
        Inverse-Gamma scale of the variances (> 0), per dimension.
    nu : float, optional
        Inverse-Wishart degrees of freedom for ``full`` and ``tied``
        covariances (> d - 1).
    psi : array_like of shape (n_features, n_features), optional
        Inverse-Wishart scale matrix for ``full`` and ``tied`` covariances
        (positive definite).

    Notes
    -----
    Log densities (``d`` = 1 for 1-D data, per dimension for ``diag`` and
    ``spherical``, whose one variance per component enters the density of
    every dimension)::

        log Dir(w | alpha) = lgamma(sum alpha) - sum lgamma(alpha) + sum (alpha - 1) log w
        log IG(s2 | a, b) = a log b - lgamma(a) - (a + 1) log s2 - b / s2
        log N(mu | m0, s2 / kappa) = -0.5 log(2 pi s2 / kappa) - kappa (mu - m0)^2 / (2 s2)

    ``full`` and ``tied`` use the Inverse-Wishart and multivariate Normal
    densities (as :mod:`scipy.stats`), ``tied`` with one Inverse-Wishart
    term for the shared matrix and one Normal term per mean. Blocks held
    fixed in a fit carry no prior term.
    """

    alpha: float | np.ndarray = 1.0
    m0: float | np.ndarray = 0.0
    kappa: float = 0.01
    a: float = 2.0
    b: float | np.ndarray = 1.0
    nu: float | None = None
    psi: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        _positive("alpha", self.alpha)
        _positive("kappa", self.kappa)
        _positive("a", self.a)
        _positive("b", self.b)
        m0 = np.asarray(self.m0, dtype=float)
        if not np.all(np.isfinite(m0)):
            raise ValueError(f"prior hyper-parameter m0 must be finite, got {self.m0!r}.")
        if self.psi is not None:
            psi = np.atleast_2d(np.asarray(self.psi, dtype=float))
            d = psi.shape[0]
            if psi.shape != (d, d) or not np.allclose(psi, psi.T):
                raise ValueError("prior hyper-parameter psi must be a symmetric (d, d) matrix.")
            if np.any(np.linalg.eigvalsh(psi) <= 0):
                raise ValueError("prior hyper-parameter psi must be positive definite.")
            nu = self.nu if self.nu is not None else d + 2.0
            if not np.isfinite(nu) or nu <= d - 1:
                raise ValueError(
                    f"prior degrees of freedom nu must be > d - 1 = {d - 1}, got {nu!r}."
                )
            object.__setattr__(self, "nu", float(nu))
            object.__setattr__(self, "psi", psi)
        elif self.nu is not None:
            raise ValueError("prior nu is given without psi; give both for full/tied covariances.")

    # ----------------------------------------------------------------- defaults
    @classmethod
    def default(cls, X, *, alpha: float = 1.0) -> Prior:
        """Weakly informative prior scaled to the data.

        ``m0`` is the data's mean; ``b`` a tenth of its variance (per
        dimension) with ``a = 2``, so the prior mean of each component
        variance is ``Var(X) / 10`` (components narrower than the data) with a
        heavy right tail; ``kappa = 0.01`` lets a mean lie several data
        standard deviations from ``m0``; ``alpha = 1`` is uniform on the
        simplex. For ``full`` and ``tied`` covariances ``nu = d + 2`` and
        ``psi = diag(b)`` (prior mean ``diag(Var(X)) / 10``). The Inverse-Gamma
        keeps variances away from 0, the unbounded-likelihood degeneracy of
        mixtures.
        """
        X = validate_data(X)
        X2 = X.reshape(X.shape[0], -1)
        var = X2.var(axis=0)
        if np.any(var <= 0):
            raise ValueError(
                "cannot scale a default prior to constant data (a column has zero variance); "
                "give the prior's b explicitly."
            )
        one_d = X.ndim == 1
        m0 = float(X2.mean()) if one_d else X2.mean(axis=0)
        b = float(var[0]) / 10 if one_d else var / 10
        d = X2.shape[1]
        psi = None if one_d else np.diag(var / 10)
        return cls(alpha=alpha, m0=m0, kappa=0.01, a=2.0, b=b,
                   nu=None if one_d else d + 2.0, psi=psi)

    # ------------------------------------------------------------------ helpers
    def to_dict(self) -> dict:
        """Plain-Python description (for JSON reports)."""
        out = {}
        for k, v in asdict(self).items():
            out[k] = np.asarray(v).tolist() if v is not None else None
        return out

    def rescaled(self, center: np.ndarray, scale: float) -> Prior:
        """Express the same prior for data ``Z = (X - center) / scale``."""
        m0 = (np.asarray(self.m0, dtype=float) - center) / scale
        m0 = float(m0.ravel()[0]) if np.ndim(self.m0) == 0 and m0.size == 1 else m0
        return replace(
            self,
            m0=m0,
            b=np.asarray(self.b, dtype=float) / scale**2 if np.ndim(self.b) else self.b / scale**2,
            psi=None if self.psi is None else self.psi / scale**2,
        )

    def check_for(self, spec: Spec, *, mode: str = "map") -> None:
        """Refuse a prior that does not fit the model (shapes, structure, MAP validity)."""
        K, d = spec.n_components, spec.n_features
        if np.ndim(self.alpha) and np.shape(self.alpha) != (K,):
            raise ValueError(f"prior alpha must be a scalar or have shape ({K},).")
        for name in ("m0", "b"):
            v = np.asarray(getattr(self, name))
            if v.ndim and v.shape != (d,):
                raise ValueError(f"prior {name} must be a scalar or have shape ({d},).")
        if _wishart(spec) and "covariances" not in spec.fixed:
            if self.psi is None or self.psi.shape != (d, d):
                raise ValueError(
                    f"structure={spec.kind!r} needs the prior's psi of shape ({d}, {d}) and nu; "
                    "Prior.default(X) sets them."
                )
        if mode == "map" and "weights" not in spec.fixed and np.any(np.asarray(self.alpha) < 1):
            raise ValueError(
                "a MAP estimate needs alpha >= 1: with alpha < 1 the mode of the weights lies on "
                "the boundary of the simplex (a weight of 0); use alpha >= 1 or sample with NUTS."
            )

    # ---------------------------------------------------------------- densities
    def log_density(self, p: Params, spec: Spec) -> float:
        """Log prior density of parameters (no Jacobian), free blocks only.

        Parameters
        ----------
        p : Params
            ``weights (K,)``, ``means (K, d)``, ``covariances (K, d, d)`` on the
            scale this prior is expressed in.
        spec : Spec
            Says which blocks are fixed and the structure.
        """
        return float(self.log_density_draws(p.weights[None], p.means[None],
                                            p.covariances[None], spec)[0])

    def log_density_draws(self, weights, means, covariances, spec: Spec) -> np.ndarray:
        """:meth:`log_density` of many parameter sets at once (e.g. posterior draws).

        Parameters
        ----------
        weights : ndarray of shape (S, K)
        means : ndarray of shape (S, K, d)
        covariances : ndarray of shape (S, K, d, d)
        spec : Spec

        Returns
        -------
        ndarray of shape (S,)
        """
        w, mu, cov = (np.asarray(a, dtype=float) for a in (weights, means, covariances))
        S, K, d = mu.shape
        free = spec.free
        total = np.zeros(S)
        if "weights" in free:
            alpha = np.broadcast_to(np.asarray(self.alpha, dtype=float), (K,))
            total += gammaln(alpha.sum()) - gammaln(alpha).sum()
            with np.errstate(divide="ignore", invalid="ignore"):
                total += np.where(alpha == 1, 0.0, (alpha - 1) * np.log(w)).sum(axis=1)
        m0 = np.broadcast_to(np.asarray(self.m0, dtype=float), (d,))
        if _wishart(spec):
            if "covariances" in free:
                nu, psi = self.nu, self.psi
                # 'tied': one Inverse-Wishart term for the one shared matrix
                shared = cov[:, :1] if spec.kind == "tied" else cov
                _, logdet_psi = np.linalg.slogdet(psi)
                _, logdet = np.linalg.slogdet(shared)
                tr = np.einsum("ij,skji->sk", psi, np.linalg.inv(shared))
                total += np.sum(
                    0.5 * nu * logdet_psi - 0.5 * nu * d * np.log(2) - multigammaln(nu / 2, d)
                    - 0.5 * (nu + d + 1) * logdet - 0.5 * tr, axis=1)
            if "means" in free:
                diff = mu - m0
                _, logdet = np.linalg.slogdet(cov / self.kappa)
                maha = np.einsum("ski,skij,skj->sk", diff, np.linalg.inv(cov / self.kappa), diff)
                total += np.sum(-0.5 * (d * _LOG_2PI + logdet + maha), axis=1)
            return total
        var = np.einsum("skii->ski", cov)  # (S, K, d)
        b = np.broadcast_to(np.asarray(self.b, dtype=float), (d,))
        if "covariances" in free:
            # one shared variance for 1-D 'equal'; for 'spherical' every column of
            # var is the component's one variance, so each feature's IG(a, b_j) enters
            v = var[:, :1] if spec.kind == "tied" else var
            total += np.sum(self.a * np.log(b) - gammaln(self.a)
                            - (self.a + 1) * np.log(v) - b / v, axis=(1, 2))
        if "means" in free:
            s2 = var / self.kappa
            total += np.sum(-0.5 * (_LOG_2PI + np.log(s2)) - (mu - m0) ** 2 / (2 * s2),
                            axis=(1, 2))
        return total
