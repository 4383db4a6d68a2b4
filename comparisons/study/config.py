"""The study's configuration: a TOML file, validated, and the grid of cells it spans.

A study crosses sample sizes, separations, weights, numbers of components
and structures (the *cells*); each cell is simulated ``replicates`` times
from a known truth. :func:`load_config` reads and checks the file; every
refusal is a :class:`ConfigError` whose message names the bad key and says
how to fix it. ``benchmarks/example_study.toml`` documents every key.

The truth of a cell
-------------------
With base standard deviation ``sd`` and separation ``delta``, the means are
``mu_k = (k - (K - 1) / 2) * delta * sd`` (centred on 0, adjacent means
``delta`` base sds apart, increasing in ``k``); the sds are all ``sd`` for
``structure = "equal"`` and ``sd * sd_ratio ** (k / (K - 1))`` for
``"unequal"``.

The prior of a cell
-------------------
``m0 = "truth"`` and ``b = "truth"`` (the defaults) give the analogue of
:meth:`em.Prior.default` computed from the true mixture instead of the data
set: ``m0`` is the mixture's mean and ``b`` a tenth of its variance. The
prior is then fixed per cell, so MAP-EM, ``find_MAP`` and NUTS share it and
one compiled PyMC model serves every data set of the cell's shape.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from mixcompare import em

from .validate import (
    ConfigError,
    as_float,
    as_int,
    as_list,
    choice,
    choices,
    fail,
    table,
    truth_or_float,
)

__all__ = [
    "METHODS",
    "Cell",
    "ConfigError",
    "EMSettings",
    "MAPSettings",
    "NUTSSettings",
    "PriorSettings",
    "StudyConfig",
    "load_config",
]

#: fitting methods a study may run (``nuts`` runs each of ``[nuts] variants``)
METHODS = ("em", "map_em", "map", "nuts")
_STRUCTURES = ("unequal", "equal")
_SECTIONS = {
    "study": ("name", "seed", "replicates", "level", "methods"),
    "grid": ("n", "separation", "weights", "K", "structure"),
    "truth": ("sd", "sd_ratio"),
    "prior": ("alpha", "kappa", "a", "m0", "b"),
    "em": ("n_init", "intervals", "n_boot"),
    "map": ("n_starts",),
    "nuts": ("variants", "draws", "tune", "chains", "sampler", "target_accept", "init"),
}


@dataclass(frozen=True)
class Cell:
    """One combination of the grid, with its true mixture.

    Attributes
    ----------
    index : int
        Position in the grid (the order of the file's lists, ``n`` slowest).
    n, K : int
    separation : float
    weights : tuple of float
    weights_label : str
        ``"equal"`` or the weights as written.
    structure : {"unequal", "equal"}
    means, sds : tuple of float
        The true component means (increasing) and standard deviations.
    """

    index: int
    n: int
    separation: float
    weights: tuple
    weights_label: str
    K: int
    structure: str
    means: tuple
    sds: tuple

    @property
    def label(self) -> str:
        """Short description, e.g. ``n=50 sep=3 w=equal K=2 unequal``."""
        return (f"n={self.n} sep={self.separation:g} w={self.weights_label} K={self.K} "
                f"{self.structure}")

    @property
    def variances(self) -> tuple:
        """True variances."""
        return tuple(s * s for s in self.sds)

    def truth(self) -> dict:
        """Return the true parameters as plain lists (``weights``, ``means``, ``sds``)."""
        return {"weights": list(self.weights), "means": list(self.means), "sds": list(self.sds)}

    def factors(self) -> dict:
        """Return the grid factors of the cell (for tables)."""
        return {"cell": self.index, "n": self.n, "separation": self.separation,
                "weights": self.weights_label, "K": self.K, "structure": self.structure}


@dataclass(frozen=True)
class PriorSettings:
    """The ``[prior]`` table: ``m0``/``b`` None means "from the truth"."""

    alpha: float = 1.0
    kappa: float = 0.01
    a: float = 2.0
    m0: float | None = None
    b: float | None = None


@dataclass(frozen=True)
class EMSettings:
    """The ``[em]`` table."""

    n_init: int = 10
    intervals: tuple = ("louis", "bootstrap")
    n_boot: int = 100


@dataclass(frozen=True)
class MAPSettings:
    """The ``[map]`` table."""

    n_starts: int = 2


@dataclass(frozen=True)
class NUTSSettings:
    """The ``[nuts]`` table."""

    variants: tuple = ("ordered",)
    draws: int = 500
    tune: int = 500
    chains: int = 2
    sampler: str = "pymc"
    target_accept: float = 0.9
    init: str = "em"


@dataclass(frozen=True)
class StudyConfig:
    """A validated study (see the module docstring and :func:`load_config`)."""

    name: str
    seed: int
    replicates: int
    level: float
    methods: tuple
    cells: tuple
    sd: float = 1.0
    sd_ratio: float = 1.0
    prior: PriorSettings = PriorSettings()
    em: EMSettings = EMSettings()
    map: MAPSettings = MAPSettings()
    nuts: NUTSSettings = NUTSSettings()

    @property
    def fit_methods(self) -> tuple:
        """Rows: ``em_louis``, ``em_bootstrap``, ``map_em``, ``map``, ``nuts_*``.

        A method with two kinds of interval gives two rows (same estimates).
        """
        out = []
        if "em" in self.methods:
            out += [f"em_{k}" for k in self.em.intervals] or ["em"]
        out += [m for m in ("map_em", "map") if m in self.methods]
        if "nuts" in self.methods:
            out += [f"nuts_{v}" for v in self.nuts.variants]
        return tuple(out)

    @property
    def n_replicates_total(self) -> int:
        """Cells times replicates."""
        return len(self.cells) * self.replicates

    def prior_for(self, cell: Cell) -> em.Prior:
        """Return a cell's prior: ``m0``/``b`` as given, or the true mixture's mean and var / 10."""
        w, mu, var = cell.weights, cell.means, cell.variances
        mean = math.fsum(wk * mk for wk, mk in zip(w, mu, strict=True))
        total = math.fsum(wk * (vk + mk * mk) for wk, mk, vk in zip(w, mu, var, strict=True))
        p = self.prior
        return em.Prior(alpha=p.alpha, kappa=p.kappa, a=p.a,
                        m0=mean if p.m0 is None else p.m0,
                        b=(total - mean * mean) / 10 if p.b is None else p.b)

    def to_dict(self) -> dict:
        """Plain description of the normalised settings (JSON-ready)."""
        return {
            "study": {"name": self.name, "seed": self.seed, "replicates": self.replicates,
                      "level": self.level, "methods": list(self.methods)},
            "grid": [asdict(c) for c in self.cells],
            "truth": {"sd": self.sd, "sd_ratio": self.sd_ratio},
            "prior": asdict(self.prior), "em": asdict(self.em), "map": asdict(self.map),
            "nuts": asdict(self.nuts),
        }

    def fingerprint(self) -> str:
        """SHA-256 of everything a replicate's result depends on.

        The name and the number of replicates are left out: replicate ``r``
        of cell ``c`` does not depend on them, so a study may be resumed
        with more replicates.
        """
        d = self.to_dict()
        d["study"] = {k: v for k, v in d["study"].items() if k not in ("name", "replicates")}
        text = json.dumps(d, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()


def _weights(entries: list, Ks: tuple) -> list:
    out = []
    for i, w in enumerate(entries):
        key = f"grid.weights[{i}]"
        if w == "equal":
            out.append(None)
            continue
        if not isinstance(w, list) or len(w) < 2:
            fail(key, f"must be \"equal\" or a list of at least 2 weights, got {w!r}",
                  "write e.g. weights = [\"equal\", [0.3, 0.7]]")
        ws = [as_float(x, key, low=0.0, example="[0.3, 0.7]") for x in w]
        if abs(math.fsum(ws) - 1.0) > 1e-9:
            fail(key, f"must sum to 1, got {math.fsum(ws)!r}", "rescale the weights")
        if len(ws) not in Ks:
            fail(key, f"has {len(ws)} weights but grid.K is {list(Ks)}",
                  "give one weight per component of a K in grid.K, or \"equal\"")
        out.append(tuple(ws))
    return out


def _cells(grid: dict, sd: float, sd_ratio: float) -> tuple:
    ns = [as_int(v, "grid.n", 2) for v in as_list(grid.get("n"), "grid.n", "[50, 200]")]
    seps = [as_float(v, "grid.separation", low=0.0, example="[2.0, 4.0]")
            for v in as_list(grid.get("separation"), "grid.separation", "[2.0, 4.0]")]
    Ks = tuple(as_int(v, "grid.K", 2) for v in as_list(grid.get("K", [2]), "grid.K", "[2]"))
    ws = _weights(as_list(grid.get("weights", ["equal"]), "grid.weights", '["equal"]'), Ks)
    structs = choices(grid.get("structure", ["unequal"]), "grid.structure", _STRUCTURES,
                       '["unequal"]')
    for name, vals in (("n", ns), ("separation", seps), ("K", Ks)):
        if len(set(vals)) != len(vals):
            fail(f"grid.{name}", f"has duplicate entries {list(vals)}", "list each value once")
    cells = []
    for n, sep, w, K, st in itertools.product(ns, seps, ws, Ks, structs):
        if w is not None and len(w) != K:
            continue
        if n < 2 * K:
            fail("grid.n", f"n = {n} is too small for K = {K}",
                  "use at least two observations per component")
        weights = w if w is not None else tuple([1.0 / K] * K)
        label = "equal" if w is None else "/".join(f"{x:g}" for x in w)
        means = tuple((k - (K - 1) / 2) * sep * sd for k in range(K))
        sds = tuple(sd * (sd_ratio ** (k / (K - 1)) if st == "unequal" else 1.0)
                    for k in range(K))
        cells.append(Cell(len(cells), n, sep, weights, label, K, st, means, sds))
    return tuple(cells)


def _from_dict(doc: dict) -> StudyConfig:
    if not isinstance(doc, dict):
        raise ConfigError("the configuration must be a TOML document (a table of sections).")
    unknown = sorted(set(doc) - set(_SECTIONS))
    if unknown:
        fail(unknown[0], "unknown section",
              f"the sections are {', '.join('[' + s + ']' for s in _SECTIONS)}")
    if "study" not in doc or "grid" not in doc:
        missing = "study" if "study" not in doc else "grid"
        fail(missing, "missing section", f"add a [{missing}] table (see "
              "benchmarks/example_study.toml)")
    st, grid, truth, pr, em_t, map_t, nuts_t = (table(doc, s, _SECTIONS[s]) for s in (
        "study", "grid", "truth", "prior", "em", "map", "nuts"))
    for key in ("seed", "replicates"):
        if key not in st:
            fail(f"study.{key}", "missing", f"add {key} = ... to [study]")
    name = st.get("name", "study")
    if not isinstance(name, str) or not name:
        fail("study.name", f"must be a non-empty string, got {name!r}", 'write name = "mine"')
    seed = as_int(st["seed"], "study.seed", 0)
    reps = as_int(st["replicates"], "study.replicates", 1)
    level = as_float(st.get("level", 0.95), "study.level", low=0.0, high=1.0, example="0.95")
    methods = choices(st.get("methods", list(METHODS)), "study.methods", METHODS,
                       '["em", "nuts"]')
    methods = tuple(m for m in METHODS if m in methods)  # canonical order
    sd = as_float(truth.get("sd", 1.0), "truth.sd", low=0.0)
    ratio = as_float(truth.get("sd_ratio", 1.0), "truth.sd_ratio", low=0.0)
    prior = PriorSettings(
        alpha=as_float(pr.get("alpha", 1.0), "prior.alpha", low=0.0),
        kappa=as_float(pr.get("kappa", 0.01), "prior.kappa", low=0.0, example="0.01"),
        a=as_float(pr.get("a", 2.0), "prior.a", low=0.0, example="2.0"),
        m0=truth_or_float(pr.get("m0", "truth"), "prior.m0", example='"truth"'),
        b=truth_or_float(pr.get("b", "truth"), "prior.b", low=0.0, example='"truth"'))
    if prior.alpha < 1 and ("map_em" in methods or "map" in methods):
        fail("prior.alpha", f"MAP estimates (map_em, map) need alpha >= 1, got {prior.alpha:g}",
              "use alpha >= 1 or drop map_em and map from study.methods")
    emt = EMSettings(
        n_init=as_int(em_t.get("n_init", 10), "em.n_init", 1),
        intervals=(() if em_t.get("intervals") == [] else choices(
            em_t.get("intervals", ["louis", "bootstrap"]), "em.intervals",
            ("louis", "bootstrap"), '["louis", "bootstrap"]')),
        n_boot=as_int(em_t.get("n_boot", 100), "em.n_boot", 2))
    mapt = MAPSettings(n_starts=as_int(map_t.get("n_starts", 2), "map.n_starts", 1))
    nuts = NUTSSettings(
        variants=choices(nuts_t.get("variants", ["ordered"]), "nuts.variants",
                          ("ordered", "unordered"), '["ordered", "unordered"]'),
        draws=as_int(nuts_t.get("draws", 500), "nuts.draws", 1),
        tune=as_int(nuts_t.get("tune", 500), "nuts.tune", 0),
        chains=as_int(nuts_t.get("chains", 2), "nuts.chains", 1),
        sampler=choice(nuts_t.get("sampler", "pymc"), "nuts.sampler", ("pymc", "nutpie")),
        target_accept=as_float(nuts_t.get("target_accept", 0.9), "nuts.target_accept",
                             low=0.0, high=1.0, example="0.9"),
        init=choice(nuts_t.get("init", "em"), "nuts.init", ("em", "prior", "atlas")))
    if nuts.sampler == "nutpie" and nuts.init == "atlas":
        fail("nuts.init", "\"atlas\" starts each chain elsewhere, which nutpie cannot do",
              'use init = "em" or sampler = "pymc"')
    if "nuts" in methods and nuts.init in ("em", "atlas") and "em" not in methods:
        fail("nuts.init", f"init = \"{nuts.init}\" starts NUTS from the EM fit, but "
              "study.methods has no \"em\"", 'add "em" to study.methods or use init = "prior"')
    return StudyConfig(name=name, seed=seed, replicates=reps, level=level, methods=methods,
                       cells=_cells(grid, sd, ratio), sd=sd, sd_ratio=ratio, prior=prior,
                       em=emt, map=mapt, nuts=nuts)


def load_config(source) -> StudyConfig:
    """Read and validate a study configuration.

    Parameters
    ----------
    source : str, pathlib.Path, dict or StudyConfig
        A TOML file, an already parsed document, or a config (returned as is).

    Returns
    -------
    StudyConfig

    Raises
    ------
    ConfigError
        A missing file, invalid TOML, an unknown section or key, a value of
        the wrong type or range; the message names the key and the fix.
    """
    if isinstance(source, StudyConfig):
        return source
    if isinstance(source, dict):
        return _from_dict(source)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the study configuration ({err.strerror}); "
                          "check the path.") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: the study configuration is not UTF-8 text (byte "
                          f"{err.start}); save it as UTF-8 TOML.") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err}); see "
                          "benchmarks/example_study.toml for the format.") from None
    return _from_dict(doc)
