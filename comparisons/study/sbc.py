"""Simulation-based calibration (SBC) of the PyMC mixture model, with a negative control.

For ``i = 1..N`` (Talts et al. 2018): draw ``theta_i`` from the prior, data
``y_i`` from the model given ``theta_i``, sample the posterior with NUTS and
thin it to ``L`` draws; the rank of ``theta_i`` among those draws is uniform
on ``0..L`` for every parameter when the sampler computes the posterior of
the model that generated the data. Two checks per parameter, each at level
``alpha / (2 P)`` (Bonferroni over the ``P`` parameters and the two checks):

* a chi-square test of the ranks binned into ``bins`` equal bins;
* the ECDF of the ranks inside its simultaneous band (Säilynoja, Bürkner &
  Vehtari 2022), calibrated by simulating uniform ranks.

The model is the ordered 1-D mixture with K = 2 and fixed equal weights
(identified, fast); one model is compiled per process and reused for every
data set (``pm.set_data``). The prior draws respect the ordering: the two
components ``(mu_k, sigma2_k)`` are drawn i.i.d. from the Normal-Inverse-Gamma
prior and sorted *jointly* by mean, which is exactly the ordered model's
prior (the unordered prior is exchangeable).

The negative control, ``generator="sd_as_variance"``, simulates the data with
the drawn variance used as the standard deviation, the classic
parameterisation slip; SBC must flag it, which shows that the check can fail.

References
----------
Talts, S., Betancourt, M., Simpson, D., Vehtari, A. & Gelman, A. (2018).
Validating Bayesian inference algorithms with simulation-based calibration.
arXiv:1804.06788.
Säilynoja, T., Bürkner, P.-C. & Vehtari, A. (2022). Graphical test for discrete
uniformity and its applications in goodness-of-fit evaluation and multiple
sample comparison. Statistics and Computing 32, 32.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from mixcompare import em
from mixcompare.comparisons.io import (
    save_figure_atomic,
    to_jsonable,
    write_json_atomic,
    write_text_atomic,
)

from .ranks import rank_figure, uniformity

__all__ = ["GENERATORS", "SBCConfig", "SBCResult", "draw_prior", "run_sbc", "sbc_command",
           "sbc_replicate", "simulate", "write_sbc"]

GENERATORS = ("correct", "sd_as_variance")
PARAMETERS = ("means[0]", "means[1]", "variances[0]", "variances[1]")


@dataclass(frozen=True)
class SBCConfig:
    """Settings of an SBC run (defaults: a check that takes about a minute on 2 cores).

    Attributes
    ----------
    n : int
        Observations per simulated data set.
    n_sims : int
        Simulated data sets.
    weights : tuple of float
        The fixed weights of the two components.
    m0, kappa, a, b : float
        The prior (:class:`em.Prior`): ``sigma2_k ~ InvGamma(a, b)``,
        ``mu_k | sigma2_k ~ Normal(m0, sigma2_k / kappa)``.
    draws, tune, chains : int
        NUTS per data set; the ``chains * draws`` draws are thinned to ``n_ranks``.
    n_ranks : int
        ``L``: ranks take the values ``0..L``; ``L + 1`` must be a multiple of ``bins``.
    bins : int
        Bins of the chi-square test.
    alpha : float
        Family-wise level over the parameters (Bonferroni).
    seed : int
        Simulation ``i`` uses ``SeedSequence(seed, spawn_key=(i,))``.
    sampler : {"pymc", "nutpie"}
    target_accept : float
    """

    n: int = 40
    n_sims: int = 100
    weights: tuple = (0.5, 0.5)
    m0: float = 0.0
    kappa: float = 0.05
    a: float = 3.0
    b: float = 0.5
    draws: int = 200
    tune: int = 200
    chains: int = 1
    n_ranks: int = 19
    bins: int = 5
    alpha: float = 0.01
    seed: int = 0
    sampler: str = "pymc"
    target_accept: float = 0.9

    def __post_init__(self):
        if (self.n_ranks + 1) % self.bins:
            raise ValueError(f"n_ranks + 1 = {self.n_ranks + 1} must be a multiple of bins = "
                             f"{self.bins}; e.g. n_ranks = 19 with bins = 5.")
        if self.chains * self.draws < self.n_ranks:
            raise ValueError(f"chains * draws = {self.chains * self.draws} is fewer than "
                             f"n_ranks = {self.n_ranks}; draw more.")
        if self.n < 4 or self.n_sims < self.bins:
            raise ValueError("n must be >= 4 and n_sims >= bins.")

    @property
    def prior(self) -> em.Prior:
        """The prior of the model."""
        return em.Prior(alpha=1.0, m0=self.m0, kappa=self.kappa, a=self.a, b=self.b)


@dataclass(frozen=True)
class SBCResult:
    """Ranks and uniformity tests of one SBC run.

    Attributes
    ----------
    config : SBCConfig
    generator : str
    parameters : tuple of str
    ranks : ndarray of shape (n_ok, P)
    n_failed : int
        Simulations whose fit failed (left out; reasons in ``reasons``).
    chi2, pvalues : ndarray of shape (P,)
        Chi-square statistics and p-values of the binned ranks.
    ecdf_inside : ndarray of bool, shape (P,)
        The ECDF stays inside its simultaneous band at level ``1 - alpha / (2 P)``.
    flagged : ndarray of bool, shape (P,)
        ``p < alpha / (2 P)`` or the ECDF leaves its band (all False without a verdict).
    passed : bool
        Every simulation ran and no parameter was flagged.
    divergences : int
    fresh_seconds, reused_seconds : float
        Time of the first fit of the compiled model and median of the later ones.
    reasons : tuple of str

    Notes
    -----
    A run in which a simulation failed gives no verdict (:attr:`verdict`):
    leaving the failed data sets out would bias the ranks towards the data
    sets the sampler handles, so the run itself failed.
    """

    config: SBCConfig
    generator: str
    parameters: tuple
    ranks: np.ndarray
    n_failed: int
    chi2: np.ndarray
    pvalues: np.ndarray
    ecdf_inside: np.ndarray
    flagged: np.ndarray
    passed: bool
    divergences: int = 0
    fresh_seconds: float = float("nan")
    reused_seconds: float = float("nan")
    reasons: tuple = field(default=())

    @property
    def complete(self) -> bool:
        """Every simulation ran, and the ranks could be tested."""
        return self.n_failed == 0 and self.ranks.shape[0] >= self.config.bins

    @property
    def verdict(self) -> str:
        """``"passed"``, ``"flagged"``, or ``"no verdict: N of M simulations failed"``."""
        if not self.complete:
            return (f"no verdict: {self.n_failed} of {self.n_failed + self.ranks.shape[0]} "
                    "simulations failed")
        return "passed" if self.passed else "flagged"

    def to_dict(self) -> dict:
        """JSON-ready summary (without the ranks)."""
        return to_jsonable({
            "generator": self.generator, "verdict": self.verdict, "config": asdict(self.config),
            "parameters": list(self.parameters), "n_ok": int(self.ranks.shape[0]),
            "n_failed": self.n_failed, "chi2": self.chi2, "pvalues": self.pvalues,
            "ecdf_inside": self.ecdf_inside, "flagged": self.flagged, "passed": self.passed,
            "divergences": self.divergences, "fresh_seconds": self.fresh_seconds,
            "reused_seconds": self.reused_seconds, "reasons": list(self.reasons)})


# --------------------------------------------------------------------------- one simulation
def draw_prior(cfg: SBCConfig, rng) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``(means, variances)`` from the ordered model's prior (components sorted jointly)."""
    v = cfg.b / rng.gamma(cfg.a, 1.0, size=2)
    mu = rng.normal(cfg.m0, np.sqrt(v / cfg.kappa))
    order = np.argsort(mu)
    return mu[order], v[order]


def simulate(cfg: SBCConfig, means, variances, generator: str, rng) -> np.ndarray:
    """Simulate data from the mixture; ``"sd_as_variance"`` uses each variance as the sd (wrong)."""
    if generator not in GENERATORS:
        raise ValueError(f"generator must be one of {GENERATORS}, got {generator!r}.")
    var = variances if generator == "correct" else np.square(variances)
    X, _ = em.sample(cfg.n, cfg.weights, means, var, rng=rng)
    return X


def _model(cfg: SBCConfig, X):
    """Return the process's one model of this shape (:func:`models.cached_model`) with ``X``."""
    from mixcompare import models

    got = models.cached_model(X, 2, prior=cfg.prior, fixed={"weights": cfg.weights},
                              ordered=True)
    return got.model, got.built


def sbc_replicate(cfg: SBCConfig, i: int, generator: str) -> dict:
    """Simulate data set ``i`` and return the ranks of its true parameters (on a worker).

    Returns
    -------
    dict
        ``i``, ``status`` (``"ok"`` or ``"failed"``), ``reason``, ``ranks`` (P),
        ``divergences``, ``fresh`` (first fit of the process's model), ``time``,
        ``theta`` (the drawn means and variances), ``warnings`` (mixcompare's).
    """
    from mixcompare import models  # before _quiet_loggers: importing pymc sets its logger's level

    from .worker import capture_warnings, quiet_loggers

    t0 = time.perf_counter()
    g_theta, g_data, g_nuts = (np.random.default_rng(s) for s in
                               np.random.SeedSequence(cfg.seed, spawn_key=(int(i),)).spawn(3))
    mu, v = draw_prior(cfg, g_theta)
    out = {"i": int(i), "status": "ok", "reason": None, "ranks": None, "divergences": 0,
           "fresh": False, "time": None, "theta": [*mu, *v], "warnings": []}
    try:
        X = simulate(cfg, mu, v, generator, g_data)
        with quiet_loggers(), capture_warnings(out["warnings"]):
            model, fresh = _model(cfg, X)
            tree = models.fit_nuts(model, draws=cfg.draws, tune=cfg.tune, chains=cfg.chains,
                                   target_accept=cfg.target_accept, sampler=cfg.sampler,
                                   rng=g_nuts, init="prior", progressbar=False, cores=1)
        post = tree["posterior"]
        draws = np.concatenate([post["means"].values.reshape(-1, 2),
                                post["variances"].values.reshape(-1, 2)], axis=1)
        thin = draws.shape[0] // cfg.n_ranks
        kept = draws[np.arange(cfg.n_ranks) * thin + thin - 1]
        out["ranks"] = (kept < np.array([*mu, *v])[None, :]).sum(axis=0).tolist()
        out["divergences"] = int(tree["sample_stats"]["diverging"].values.sum())
        out["fresh"] = fresh
    except Exception as err:  # noqa: BLE001 - recorded, never raised
        out.update(status="failed", reason=f"{type(err).__name__}: {err}"[:300])
    out["time"] = time.perf_counter() - t0
    return out


def run_sbc(config: SBCConfig | None = None, *, generator: str = "correct",
            scheduler: str | None = None, workers: int | None = None,
            progress=None) -> SBCResult:
    """Run SBC of the ordered K = 2 model (or its negative control).

    Parameters
    ----------
    config : SBCConfig, optional
    generator : {"correct", "sd_as_variance"}
        ``"sd_as_variance"`` is the negative control, which SBC must flag.
    scheduler, workers :
        Where the simulations run, as in :func:`mixcompare.comparisons.study.run`
        (``"inline"``: this process, one compiled model for all simulations).
    progress : callable, optional
        Called with a :class:`~mixcompare.comparisons.study.run.ProgressInfo` per simulation.

    Returns
    -------
    SBCResult
    """
    from .cluster import Executor
    from .results import ProgressInfo

    cfg = config or SBCConfig()
    if generator not in GENERATORS:
        raise ValueError(f"generator must be one of {GENERATORS}, got {generator!r}.")
    t0 = time.perf_counter()
    results, failed = [], 0
    with Executor(scheduler, workers) as ex:
        for (i, _), rec, err in ex.run(sbc_replicate, cfg,
                                       [(i, generator) for i in range(cfg.n_sims)]):
            if err is not None:
                rec = {"i": i, "status": "failed", "reason": f"{type(err).__name__}: {err}",
                       "ranks": None, "divergences": 0, "fresh": False, "time": None}
            failed += rec["status"] != "ok"
            results.append(rec)
            if progress is not None:
                el = time.perf_counter() - t0
                k = len(results)
                progress(ProgressInfo(cfg.n_sims, k, 0, failed, 0, el,
                                      el / k * (cfg.n_sims - k), f"sim {i}"))
    results.sort(key=lambda r: r["i"])
    ok = [r for r in results if r["status"] == "ok"]
    ranks = np.array([r["ranks"] for r in ok], dtype=int).reshape(-1, len(PARAMETERS))
    u = (uniformity(ranks, cfg.n_ranks, cfg.bins, cfg.alpha)
         if len(ok) >= cfg.bins and len(ok) == len(results) else None)  # no verdict otherwise
    fresh = [r["time"] for r in ok if r["fresh"]]
    again = [r["time"] for r in ok if not r["fresh"]]
    nan = np.full(len(PARAMETERS), np.nan)
    return SBCResult(
        config=cfg, generator=generator, parameters=PARAMETERS, ranks=ranks,
        n_failed=len(results) - len(ok), chi2=u["chi2"] if u else nan,
        pvalues=u["pvalues"] if u else nan,
        ecdf_inside=u["ecdf_inside"] if u else np.zeros(len(PARAMETERS), bool),
        flagged=u["flagged"] if u else np.zeros(len(PARAMETERS), bool),
        passed=bool(u is not None and not u["flagged"].any()),
        divergences=int(sum(r["divergences"] for r in ok)),
        fresh_seconds=float(np.median(fresh)) if fresh else float("nan"),
        reused_seconds=float(np.median(again)) if again else float("nan"),
        reasons=tuple(dict.fromkeys(r["reason"] for r in results if r["status"] != "ok")))


# --------------------------------------------------------------------------- output
def write_sbc(results: list, out) -> dict:
    """Write ``sbc.json``, ``sbc.md``, ``ranks_<generator>.csv`` and ``sbc_<generator>.png``."""
    from mixcompare.comparisons.report.markdown import table

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    lines = ["# Simulation-based calibration", "",
             "Ordered 1-D mixture, K = 2, fixed weights; ranks of the true parameters among "
             "thinned NUTS draws; chi-square on binned ranks and the ECDF simultaneous band, "
             "each at alpha / (2 P) (Bonferroni).", ""]
    for r in results:
        g = r.generator
        title = f"SBC, generator {g}: {'FLAGGED' if r.verdict == 'flagged' else r.verdict}"
        if r.ranks.shape[0]:  # every simulation may have failed
            files[f"sbc_{g}.png"] = save_figure_atomic(
                rank_figure(r.ranks, r.parameters, cfg=r.config, title=title),
                out / f"sbc_{g}.png", dpi=100)
        csv = ",".join(r.parameters) + "\n" + "".join(
            ",".join(map(str, row)) + "\n" for row in r.ranks)
        files[f"ranks_{g}.csv"] = write_text_atomic(out / f"ranks_{g}.csv", csv)
        lines += [f"## generator `{g}`: {r.verdict}", "",
                  table(["parameter", "chi2", "p", "ECDF inside band", "flagged"],
                        [[p, f"{c:.2f}", f"{pv:.3g}", bool(e), bool(f)] for p, c, pv, e, f in
                         zip(r.parameters, r.chi2, r.pvalues, r.ecdf_inside, r.flagged,
                             strict=True)])]
        lines += ["", f"{r.ranks.shape[0]} simulations, {r.n_failed} failed, {r.divergences} "
                  f"divergences; first fit {r.fresh_seconds:.2f} s, later fits "
                  f"{r.reused_seconds:.2f} s (median).", ""]
        lines += [f"![SBC {g}](sbc_{g}.png)", ""] if r.ranks.shape[0] else []
        lines += [f"- failed: {reason}" for reason in r.reasons] + ([""] if r.reasons else [])
    files["sbc.md"] = write_text_atomic(out / "sbc.md", "\n".join(lines))
    files["sbc.json"] = write_json_atomic(out / "sbc.json", [r.to_dict() for r in results])
    return files


def sbc_command(out: Path, n_sims: int, n: int, draws: int, tune: int, chains: int, seed: int,
                control: bool, scheduler: str | None, workers: int, quiet: bool) -> int:
    """Run SBC (and its negative control) from the command line; return the exit code.

    Returns
    -------
    int
        0: the model passed and the control was flagged (or not run); 1: the
        model was flagged, or the run failed (a simulation failed: no verdict,
        an error line says so); 3: the negative control was not flagged (the
        check lacks power: simulate more data sets); 2: bad settings.
    """
    from rich.console import Console

    from ..progress import progress_bar

    console, err = Console(stderr=True, quiet=quiet), Console(stderr=True)
    try:
        cfg = SBCConfig(n=n, n_sims=n_sims, draws=draws, tune=tune, chains=chains, seed=seed)
    except ValueError as e:
        err.print(f"mixcompare: error: {e}", markup=False, highlight=False, soft_wrap=True)
        return 2
    results = []
    for gen in GENERATORS if control else GENERATORS[:1]:
        bar = progress_bar(console, disable=quiet)
        with bar:
            t = bar.add_task(f"SBC {gen} (0 failed)", total=n_sims)
            results.append(run_sbc(cfg, generator=gen, scheduler=scheduler,
                                   workers=workers or None,
                                   progress=lambda p, t=t, bar=bar, gen=gen: bar.update(
                                       t, completed=p.done,
                                       description=f"SBC {gen} ({p.failed_fits} failed)")))
        r = results[-1]
        if not r.complete:
            write_sbc(results, out)
            err.print(f"mixcompare: error: the SBC run failed: {r.verdict[len('no verdict: '):]} "
                      f"({gen} generator; {'; '.join(r.reasons)[:300]}); no calibration "
                      f"verdict; the failures are listed in {out}/sbc.md",
                      markup=False, highlight=False, soft_wrap=True)
            return 1
        console.print(f"{gen}: {'passed' if r.passed else 'FLAGGED'} (p = "
                      + ", ".join(f"{p}: {v:.3g}" for p, v in zip(r.parameters, r.pvalues,
                                                                   strict=True)) + ")")
    write_sbc(results, out)
    console.print(f"SBC written to {out}/ (sbc.md, sbc.json, figures)")
    if not results[0].passed:
        return 1
    if control and results[1].passed:
        err.print("mixcompare: the negative control was not flagged: SBC lacks power here; "
                  "increase --n-sims", markup=False, highlight=False, soft_wrap=True)
        return 3
    return 0
