"""The lecture's text: the slide index, the formulas in LaTeX with worked numbers, the CpG note.

:func:`slide_index` is the table at the top of ``index.md`` (every slide
28-42 and where it is reproduced); :func:`model_section`,
:func:`estep_section` and :func:`mstep_section` write slides 31 and 36-41
as formulas with one point's numbers filled in from :mod:`.theory`;
:func:`cpg_intro` says that the CpG data are simulated and on which
assumptions. Everything returns Markdown (``$...$`` and ``$$...$$`` for
maths, as GitHub and Jupyter render it).
"""

from __future__ import annotations

import numpy as np

__all__ = ["SLIDES", "cpg_intro", "estep_section", "model_section", "mstep_section",
           "slide_index", "stand_in_note"]

#: (slide, what it shows, where this lecture reproduces it)
SLIDES = (
    ("28", "one Gaussian fitted in closed form",
     "[§0](#0-slides-28-29-one-gaussian-or-two): `one_or_two.png` (left, the closed form "
     "dashed), `tables/k_choice.csv`; notebook 01 §0"),
    ("29", "\"This? Or this?\": one Gaussian or two",
     "[§0](#0-slides-28-29-one-gaussian-or-two): `one_or_two.png`, K = 1 against K = 2 by "
     "EM's BIC and ICL (`tables/k_choice.csv`), then the K-choice panel (`kchoice/bic.png`; "
     "with the full settings also SMC's P(K | y))"),
    ("30", "CpG o/e ratios, 72 % / 28 % (Saxonov, Berg & Brutlag 2006)",
     "[§6](#6-slide-30-cpg-oe-ratios-simulated-em-map-and-nuts): simulated data, assumptions "
     "listed; `cpg/*.png`, `tables/cpg_agreement.csv`; notebook 01 §6"),
    ("31", "parameters, p.d.f., likelihood as a product of sums",
     "[§1](#1-slide-31-the-model-and-its-likelihood): formulas"),
    ("32", "the likelihood over (mu1, mu2) in [-20, 20]^2, sigma^2 = 1, tau = .5",
     "[§2](#2-slides-32-35-nine-points-four-bumps): `bumps_surface.png`; `index.html`"),
    ("33", "the surface in 3-D: four bumps",
     "[§2](#2-slides-32-35-nine-points-four-bumps): `bumps_surface.png` (left, tempered "
     "likelihood; right, log-likelihood)"),
    ("34", "the four local maxima, two of them label swaps",
     "[§2](#2-slides-32-35-nine-points-four-bumps): `tables/bumps_optima.csv`, "
     "`bumps_profile.png`"),
    ("35", "EM climbs to the bump whose basin it starts in",
     "[§2](#2-slides-32-35-nine-points-four-bumps): `bumps_paths.png`, `bumps_basins.png`, "
     "`bumps_posterior.png`; click on `index.html`"),
    ("36", "the E-step as P(A \u2223 D) by Bayes' rule",
     "[§3](#3-slides-36-41-e-step-complete-data-log-likelihood-m-step): formula"),
    ("37", "the E-step for one point, with numbers",
     "[§3](#3-slides-36-41-e-step-complete-data-log-likelihood-m-step): x = 0 worked out; "
     "notebook 01 §3"),
    ("38", "hidden labels: the complete data",
     "[§3](#3-slides-36-41-e-step-complete-data-log-likelihood-m-step): the indicators z_ik"),
    ("39", "the complete-data log-likelihood",
     "[§3](#3-slides-36-41-e-step-complete-data-log-likelihood-m-step): formula"),
    ("40", "its expectation given the data (Q)",
     "[§3](#3-slides-36-41-e-step-complete-data-log-likelihood-m-step): formula"),
    ("41", "the M-step: weighted means",
     "[§3](#3-slides-36-41-e-step-complete-data-log-likelihood-m-step): formula and numbers; "
     "notebook 01 §3"),
    ("42", "\"essentially converged in 2 iterations\"",
     "[§4](#4-slide-42-converged-after-two-iterations): `two_iterations.png`, "
     "`tables/two_iterations.csv`, per-point `tables/responsibilities.csv` (stand-in data)"),
)


def slide_index() -> str:
    """Return the Markdown table of slides 28-42 and where each is reproduced."""
    rows = "".join(f"| {s} | {what} | {where} |\n" for s, what, where in SLIDES)
    return ("## Where each slide is reproduced\n\n| slide | shows | reproduced in |\n"
            "|---|---|---|\n" + rows + "\nInteractive: [`index.html`](index.html) (click on the "
            "surface: EM and CEM climb from there; posterior draws can be toggled).\n")


def model_section(n: int, variance: float, tau) -> str:
    """Slide 31: parameters, the mixture p.d.f. and the likelihood as a product of sums."""
    t = ", ".join(f"{v:g}" for v in tau)
    return (
        "## 1. Slide 31: the model and its likelihood\n\n"
        "Parameters $\\theta = (\\tau_1, \\tau_2, \\mu_1, \\mu_2, \\sigma^2_1, \\sigma^2_2)$, "
        "$\\tau_1 + \\tau_2 = 1$. The density of one observation is a weighted sum of two "
        "Gaussians,\n\n$$p(x \\mid \\theta) = \\sum_{k=1}^{2} \\tau_k\\, "
        "\\mathcal N(x \\mid \\mu_k, \\sigma^2_k), \\qquad \\mathcal N(x \\mid \\mu, \\sigma^2) = "
        "\\frac{1}{\\sqrt{2\\pi\\sigma^2}} e^{-(x-\\mu)^2 / 2\\sigma^2},$$\n\n"
        "and the likelihood of independent observations is a product of sums:\n\n"
        "$$L(\\theta) = \\prod_{i=1}^{n} \\sum_{k=1}^{2} \\tau_k\\, \\mathcal N(x_i \\mid \\mu_k, "
        "\\sigma^2_k), \\qquad \\ell(\\theta) = \\log L(\\theta) = \\sum_{i=1}^{n} \\log "
        "\\sum_{k=1}^{2} \\tau_k\\, \\mathcal N(x_i \\mid \\mu_k, \\sigma^2_k).$$\n\n"
        "The log does not reach inside the sum: there is no closed form, unlike one "
        f"Gaussian (§0). In §2 $n = {n}$, $\\sigma^2_1 = \\sigma^2_2 = {variance:g}$ and "
        f"$\\tau = ({t})$ are fixed, so $\\ell$ is a function of $(\\mu_1, \\mu_2)$ alone.\n")


def _v(a) -> str:
    return ", ".join(f"{float(v):.5g}" for v in np.atleast_1d(a))


def estep_section(w: dict) -> str:
    """Slides 36-40: the E-step by Bayes' rule with ``w`` (:func:`.theory.estep_by_hand`) worked."""
    (m1, m2), (t1, t2), (d1, d2), (j1, j2) = w["means"], w["weights"], w["density"], w["joint"]
    r1, r2 = w["resp"]
    x, var = w["x"], w["var"]
    return (
        "## 3. Slides 36-41: E-step, complete-data log-likelihood, M-step\n\n"
        "**E-step (Bayes' rule).** Let $A$ be the event \"point $i$ came from component "
        "$k$\" and $D$ the observed $x_i$. With the current parameters,\n\n"
        "$$r_{ik} = P(A \\mid D) = \\frac{P(D \\mid A)\\, P(A)}{P(D)} = \\frac{\\tau_k\\, "
        "\\mathcal N(x_i \\mid \\mu_k, \\sigma^2_k)}{\\sum_{j} \\tau_j\\, \\mathcal N(x_i \\mid "
        "\\mu_j, \\sigma^2_j)}.$$\n\n"
        f"*One point, worked out* (the first E-step of §4: means ({m1:g}, {m2:g}), "
        f"$\\sigma^2 = {var:g}$, $\\tau = ({t1:g}, {t2:g})$), for $x = {x:g}$:\n\n"
        f"- $\\mathcal N({x:g} \\mid {m1:g}, {var:g}) = {d1:.5f}$ and "
        f"$\\mathcal N({x:g} \\mid {m2:g}, {var:g}) = {d2:.5f}$;\n"
        f"- times the priors: ${t1:g} \\times {d1:.5f} = {j1:.5f}$ and "
        f"${t2:g} \\times {d2:.5f} = {j2:.5f}$;\n"
        f"- evidence $P(D) = {j1:.5f} + {j2:.5f} = {w['evidence']:.5f}$;\n"
        f"- $r_1 = {j1:.5f} / {w['evidence']:.5f} = {r1:.4f}$ and $r_2 = {r2:.4f}$ "
        "(the row $x = 0$ of `tables/responsibilities.csv`, iteration 1).\n\n"
        "**Complete data.** Had we seen the labels $z_{ik} \\in \\{0, 1\\}$ "
        "($z_{ik} = 1$ when point $i$ is from component $k$), the log-likelihood would "
        "separate into one Gaussian fit per component:\n\n"
        "$$\\ell_c(\\theta) = \\sum_{i=1}^{n} \\sum_{k=1}^{2} z_{ik} \\left[\\log \\tau_k + "
        "\\log \\mathcal N(x_i \\mid \\mu_k, \\sigma^2_k)\\right].$$\n\n"
        "EM replaces the unseen $z_{ik}$ by their expectations given the data, the "
        "responsibilities:\n\n"
        "$$Q(\\theta \\mid \\theta^{(t)}) = \\mathbb E\\left[\\ell_c(\\theta) \\mid x, "
        "\\theta^{(t)}\\right] = \\sum_{i} \\sum_{k} r_{ik}^{(t)} \\left[\\log \\tau_k + "
        "\\log \\mathcal N(x_i \\mid \\mu_k, \\sigma^2_k)\\right].$$\n")


def mstep_section(resp_table) -> str:
    """Slide 41: the M-step, with the first iteration's numbers from ``resp_table``.

    ``resp_table`` is :func:`.theory.responsibility_table` (attribute ``means``).
    """
    x, r1 = resp_table["x"].values, resp_table["r1_it1"].values
    new = resp_table.attrs["means"][1]
    terms = " + ".join(f"{a:.3f} \\times ({b:g})" for a, b in zip(r1, x, strict=True))
    return (
        "**M-step.** Maximising $Q$ gives weighted versions of the one-Gaussian closed "
        "form (§0):\n\n$$N_k = \\sum_i r_{ik}, \\qquad \\tau_k = \\frac{N_k}{n}, \\qquad "
        "\\mu_k = \\frac{1}{N_k} \\sum_i r_{ik}\\, x_i, \\qquad \\sigma^2_k = \\frac{1}{N_k} "
        "\\sum_i r_{ik} (x_i - \\mu_k)^2.$$\n\n"
        "With $\\tau$ and $\\sigma^2$ held fixed (§2, §4) only the means are updated. "
        f"First iteration of §4: $\\mu_1 = ({terms}) / {r1.sum():.4f} = {new[0]:.4f}$ and, "
        f"the same way, $\\mu_2 = {new[1]:.4f}$ (row 1 of `tables/two_iterations.csv`).\n\n"
        "**CEM** (classification EM) replaces $r_{ik}$ by the hard assignment "
        "$z_{ik} = 1$ for the largest $r_{ik}$ before the M-step: it maximises $\\ell_c$ over "
        "labels and parameters, not $\\ell$ (§5 shows the price).\n")


def stand_in_note(x, start) -> str:
    """Say that the two-iteration data are a stand-in chosen here, not the slide's numbers."""
    pts = ", ".join(f"{v:g}" for v in x)
    st = ", ".join(f"{v:g}" for v in start)
    return (f"**Stand-in data.** The slide's spreadsheet numbers are not reproduced: these "
            f"{len(x)} points ({pts}), two clusters near 0 and 4, and the start ({st}) are "
            "ours, chosen to show the slide's claim. $\\sigma = 1$ and $\\tau = 0.5$ fixed, "
            "as on the slide.\n")


def cpg_intro(description: str, source: str) -> str:
    """Say that the CpG data are simulated, quote 72 % / 28 % and list the assumptions."""
    return (
        "**Simulated data.** Saxonov, Berg & Brutlag (2006, PNAS 103, 1412-1417) report "
        "that 72 % of human promoters are high-CpG and 28 % low-CpG. The data here are "
        "*simulated* with those proportions; the rest is assumed by mixcompare, not taken "
        f"from the paper. Data set `cpg`: {description} Source: {source}\n")


def grid_posterior_note(attrs: dict) -> str:
    """Say what the quick page's exact grid posterior is and what it adds to NUTS's picture."""
    lm = np.asarray(attrs["bump_log_mass"], float)
    minor = float(lm[2:].max()) if lm.size > 2 else float("nan")
    return (
        "**Exact grid posterior (quick mode).** With both weights and variances fixed the "
        "posterior is a density over (mu1, mu2) alone, so `--quick` computes it exactly: the "
        "log density (log-likelihood plus the means' Normal prior) on "
        f"{attrs['grid']}, normalised by log-sum-exp, and independent draws taken from it "
        "(ordered model: the same draws with the two means sorted). This is not a shortcut: "
        "it is the answer NUTS approximates, and it gives what no chain can, each bump's "
        f"posterior mass: {np.exp(lm[0]):.3f} and {np.exp(lm[1]):.3f} at the two labellings "
        f"of the best bump, and e^{minor:.1f} = {np.exp(minor):.1e} in the region nearest "
        "each bump of the worse pair -- which is why no draw lands there, although a NUTS "
        "chain started there stays (the full run, `mixcompare lecture` without --quick, "
        "shows NUTS).\n")
