"""The interactive lecture page in a real headless browser (Debian's chromium and chromedriver).

The page is built once for the module from a small surface (the page computes its own
surface and paths; what Python gives it is the data, the maxima and the draws), opened from
``file://`` with the network closed, and checked: no console error, the page's EM and CEM
paths equal ``em.fit``'s on the same starts, and a click on the surface starts both at the
clicked point and runs them to the optimum ``em`` reaches from there.
"""

import base64
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from mixcompare import em
from mixcompare.comparisons.lecture import interactive, slides, surface
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
X, FIXED = slides.bumps_data()
# em.fit stops when Aitken's estimate puts the means within PARAM_TOL (1e-6) data sds of the
# fixed point; the page stops when no mean moves more than 1e-10 sds. Both ends are then
# within 1e-6 sds of the same fixed point: twice that bounds their distance.
END_TOL = 2e-6 * float(np.std(X))


def _fake_draws(rng, centre, chains=2, draws=40):
    """Draws around a bump: the page's toggles are tested, not the posterior."""
    m = np.asarray(centre) + 0.3 * rng.standard_normal((chains, draws, 2))
    return xr.Dataset({"means": (("chain", "draw", "component"), m)})


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = [p for p in (CHROMIUM, DRIVER) if not Path(p).exists()]
    if missing:  # a failure, not a skip: the README's test command installs both (.ci/chromium)
        pytest.fail(f"{', '.join(missing)} not found: install Debian's browser and driver with "
                    "`apt-get install chromium chromium-driver` (`bash .ci/chromium`, as the "
                    "README's test command does).")
    tmp = tmp_path_factory.mktemp("page")
    surf = surface.loglik_surface(X, limits=slides.LIMITS, n_grid=81, **FIXED)
    rng = np.random.default_rng(0)
    post = {"unordered": _fake_draws(rng, (-5, 12)), "ordered": _fake_draws(rng, (-10, 6))}
    path = interactive.write_page(tmp / "index.html", X, FIXED, surf, post)
    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1250,900",
                f"--user-data-dir={tmp / 'profile'}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        driver.get(path.as_uri())
        WebDriverWait(driver, 20).until(lambda d: d.execute_script("return !!window.lecture"))
        yield driver, tmp
    finally:
        driver.quit()
        shutil.rmtree(tmp / "profile", ignore_errors=True)


def _em_end(start, algorithm):
    res = em.fit(X, 2, fixed=FIXED, init={"means": list(start)}, algorithm=algorithm,
                 tol=1e-10, max_iter=1000)
    return np.asarray(res.means)


def test_page_is_self_contained_and_loads_without_console_errors(browser):
    driver, tmp = browser
    html = (tmp / "index.html").read_text()
    assert "src=" not in html and "href=\"http" not in html  # nothing fetched: works offline
    logs = driver.get_log("browser")
    assert [e for e in logs if e["level"] == "SEVERE"] == []
    # the log is read for real: an error the page logs now is seen
    driver.execute_script("console.error('probe from the test')")
    assert any("probe from the test" in e["message"] for e in driver.get_log("browser"))


@pytest.mark.parametrize("algorithm", ["em", "cem"])
def test_page_paths_equal_em_fit_on_the_same_starts(browser, algorithm):
    driver, _ = browser
    starts = [(a, b) for a in np.linspace(-19, 19, 6) for b in np.linspace(-18, 18.5, 5)]
    got = driver.execute_script(
        "return arguments[0].map(s => lecture.path(s, arguments[1]).map(t => t.mu));",
        starts, algorithm)
    ends = set()
    for start, path in zip(starts, got, strict=True):
        path = np.asarray(path)
        # every iterate: em.fit with tol=0 records the same E- and M-steps. Bayes' rule is
        # written 1 / (1 + e^(b - a)) here and exp(a - logsumexp) in em: from far starts a
        # component's weight is a sum of responsibilities ~1e-3 whose last bits differ, and
        # the mean divides by it (seen: 1.7e-10 relative); 1e-7 still catches any wrong step
        steps = min(len(path) - 1, 4)
        trace = em.fit(X, 2, fixed=FIXED, init={"means": list(start)}, algorithm=algorithm,
                       tol=0, max_iter=steps).trace.means
        np.testing.assert_allclose(path[:steps + 1], trace, rtol=1e-7)
        np.testing.assert_allclose(path[-1], _em_end(start, algorithm), atol=END_TOL)
        ends.add(tuple(np.round(path[-1])))
    assert len(ends) >= 4  # the starts reach every bump: a real test of both paths
    ll = driver.execute_script("return [lecture.loglik(-5, 12), lecture.loglik(3, -7)];")
    np.testing.assert_allclose(ll, surface.mixture_loglik(X, [-5, 3], [12, -7], **FIXED),
                               rtol=1e-13)


def test_click_starts_em_and_cem_there_and_ends_at_em_optimum(browser):
    driver, tmp = browser
    canvas = driver.find_element(By.ID, "surface")
    target = (3.0, -1.0)
    px, py = driver.execute_script("return lecture.toPx(arguments[0], arguments[1]);", *target)
    w, h = canvas.size["width"], canvas.size["height"]
    ActionChains(driver).move_to_element_with_offset(
        canvas, int(round(px - w / 2)), int(round(py - h / 2))).click().perform()
    state = driver.execute_script(
        "const s = lecture.state; return {start: s.start, clicks: s.clicks, "
        "em: s.em.map(t => t.mu), cem: s.cem.map(t => t.mu)};")
    assert state["clicks"] == 1
    start = np.asarray(state["start"])
    assert np.max(np.abs(start - target)) < 0.2  # within two pixels (0.083 per pixel)
    for alg in ("em", "cem"):
        np.testing.assert_allclose(state[alg][-1], _em_end(start, alg), atol=END_TOL)
    assert np.allclose(state["em"][-1], (12, -5), atol=0.05)  # (3, -1) lies in that basin
    # the animation runs to the last iteration; the panel shows it with nine points' rows
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        "const s = document.getElementById('iteration'); return s.value === s.max;"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#resp-body tr")
    assert len(rows) == X.size
    assert f"{state['em'][-1][0]:.3f}" in driver.find_element(By.ID, "em-now").text
    # toggling the posterior draws redraws the surface
    before = driver.execute_script("return document.getElementById('surface').toDataURL();")
    driver.find_element(By.ID, "show-unordered").click()
    after = driver.execute_script("return document.getElementById('surface').toDataURL();")
    assert before != after
    driver.execute_script("window.scrollTo(0, 0);")
    shot = tmp / "page.png"
    driver.save_screenshot(str(shot))
    png = shot.read_bytes()
    assert png[:8] == base64.b64decode("iVBORw0KGgo=") and len(png) > 20_000
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
