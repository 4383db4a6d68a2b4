// The interactive lecture page: EM and classification EM on the nine-point example.
// The model (sigma^2 and tau fixed, the two means free) is small enough to run here;
// tests/test_lecture_page.py checks these paths against mixcompare.em on the same starts.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("lecture-data").textContent);
  const LOG2PI = Math.log(2 * Math.PI);
  const N = D.x.length;
  const SD = Math.sqrt(D.x.reduce((s, v) => s + v * v, 0) / N - Math.pow(D.x.reduce((s, v) => s + v, 0) / N, 2));
  const logw = D.tau.map(Math.log);

  // log tau_k + log N(x | mu_k, sigma^2)
  function logJoint(x, mu, k) {
    return logw[k] - 0.5 * (LOG2PI + Math.log(D.variance)) - 0.5 * (x - mu) * (x - mu) / D.variance;
  }
  // observed-data log-likelihood: sum_i log sum_k tau_k N(x_i | mu_k, sigma^2)
  function loglik(m1, m2) {
    let s = 0;
    for (const x of D.x) {
      const a = logJoint(x, m1, 0), b = logJoint(x, m2, 1), hi = Math.max(a, b);
      s += hi + Math.log(Math.exp(a - hi) + Math.exp(b - hi));
    }
    return s;
  }
  // E-step (Bayes' rule) or C-step (hard: ties to component 1): responsibility of component 1
  function resp1(mu, hard) {
    return D.x.map((x) => {
      const a = logJoint(x, mu[0], 0), b = logJoint(x, mu[1], 1);
      return hard ? (a >= b ? 1 : 0) : 1 / (1 + Math.exp(b - a));
    });
  }
  // M-step for the means; a component with no weight keeps its mean (as mixcompare.em)
  function mstep(mu, r) {
    let n1 = 0, n2 = 0, s1 = 0, s2 = 0;
    r.forEach((ri, i) => { n1 += ri; n2 += 1 - ri; s1 += ri * D.x[i]; s2 += (1 - ri) * D.x[i]; });
    const empty = 1e-12 * N;
    return [n1 > empty ? s1 / n1 : mu[0], n2 > empty ? s2 / n2 : mu[1]];
  }
  // every iterate from a start until no mean moves more than tol * sd(x)
  function path(start, algorithm, maxIter = 1000, tol = 1e-10) {
    const hard = algorithm === "cem";
    let mu = [start[0], start[1]];
    const out = [];
    for (let t = 0; t <= maxIter; t++) {
      const r = resp1(mu, hard);
      out.push({ mu: mu, resp: r, loglik: loglik(mu[0], mu[1]) });
      const next = mstep(mu, r);
      const moved = Math.max(Math.abs(next[0] - mu[0]), Math.abs(next[1] - mu[1]));
      mu = next;
      if (moved <= tol * SD) { break; }
    }
    return out;
  }

  // ------------------------------------------------------------------ drawing
  const canvas = document.getElementById("surface");
  const ctx = canvas.getContext("2d");
  const M = { left: 46, top: 12, size: 480 };
  const [LO, HI] = D.limits;
  const toPx = (m1, m2) => [M.left + (m1 - LO) / (HI - LO) * M.size,
                            M.top + (HI - m2) / (HI - LO) * M.size];
  const toMu = (px, py) => [LO + (px - M.left) / M.size * (HI - LO),
                            HI - (py - M.top) / M.size * (HI - LO)];
  function colour(v) {  // v in [0, 1] -> viridis
    const c = D.colormap, f = Math.min(Math.max(v, 0), 1) * (c.length - 1);
    const i = Math.min(Math.floor(f), c.length - 2), u = f - i;
    return c[i].map((a, k) => Math.round(255 * (a + u * (c[i + 1][k] - a))));
  }
  let background = null;
  function renderSurface() {
    const view = document.querySelector("input[name=view]:checked").value;
    const img = ctx.createImageData(M.size, M.size);
    for (let py = 0; py < M.size; py++) {
      for (let px = 0; px < M.size; px++) {
        const [m1, m2] = toMu(M.left + px + 0.5, M.top + py + 0.5);
        const d = loglik(m1, m2) - D.best;
        const v = view === "tempered" ? Math.exp(d / D.temperature) : 1 + Math.max(d, -D.depth) / D.depth;
        const c = colour(v), k = 4 * (py * M.size + px);
        img.data[k] = c[0]; img.data[k + 1] = c[1]; img.data[k + 2] = c[2]; img.data[k + 3] = 255;
      }
    }
    background = img;
  }
  function dot(m1, m2, r, fill, stroke) {
    const [x, y] = toPx(m1, m2);
    ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI);
    if (fill) { ctx.fillStyle = fill; ctx.fill(); }
    if (stroke) { ctx.strokeStyle = stroke; ctx.lineWidth = 1.5; ctx.stroke(); }
  }
  function drawAxes() {
    ctx.fillStyle = "#222"; ctx.font = "11px sans-serif"; ctx.textAlign = "center";
    for (let v = LO; v <= HI; v += 5) {
      const [x] = toPx(v, LO), [, y] = toPx(LO, v);
      ctx.fillText(String(v), x, M.top + M.size + 14);
      ctx.textAlign = "right"; ctx.fillText(String(v), M.left - 5, y + 4); ctx.textAlign = "center";
    }
    ctx.fillText("\u03bc1", M.left + M.size / 2, M.top + M.size + 30);
    ctx.save(); ctx.translate(12, M.top + M.size / 2); ctx.rotate(-Math.PI / 2);
    ctx.fillText("\u03bc2", 0, 0); ctx.restore();
  }
  function drawPath(p, t, colourName) {
    const upto = p.slice(0, Math.min(t, p.length - 1) + 1);
    ctx.strokeStyle = colourName; ctx.lineWidth = 2; ctx.beginPath();
    upto.forEach((s, i) => { const [x, y] = toPx(s.mu[0], s.mu[1]); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
    ctx.stroke();
    upto.forEach((s) => dot(s.mu[0], s.mu[1], 3, colourName, "white"));
  }
  function draw() {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.putImageData(background, M.left, M.top);
    drawAxes();
    const [a, b] = toPx(LO, LO), [c, d] = toPx(HI, HI);
    ctx.setLineDash([3, 3]); ctx.strokeStyle = "#ddd"; ctx.beginPath(); ctx.moveTo(a, b); ctx.lineTo(c, d); ctx.stroke(); ctx.setLineDash([]);
    for (const key of ["unordered", "ordered"]) {
      if (document.getElementById("show-" + key).checked) {
        for (const m of D.posterior[key]) { dot(m[0], m[1], 1.6, key === "ordered" ? "#ff7f0e" : "#e377c2"); }
      }
    }
    for (const m of D.maxima) { dot(m[0], m[1], 5, null, "white"); }
    if (state.em) {
      const t = Number(slider.value);
      drawPath(state.em, t, "#d62728");
      drawPath(state.cem, t, "#1f77b4");
      dot(state.start[0], state.start[1], 5, "black", "white");
    }
  }

  // ------------------------------------------------------------------ panel
  const slider = document.getElementById("iteration");
  const state = { start: null, em: null, cem: null, clicks: 0 };
  function fmt(v, d = 3) { return Number(v).toFixed(d); }
  function showIteration() {
    const t = Number(slider.value);
    document.getElementById("iteration-label").textContent = String(t);
    if (!state.em) { return; }
    const e = state.em[Math.min(t, state.em.length - 1)], c = state.cem[Math.min(t, state.cem.length - 1)];
    document.getElementById("em-now").textContent =
      `EM: \u03bc = (${fmt(e.mu[0])}, ${fmt(e.mu[1])}), log-likelihood ${fmt(e.loglik, 3)} (converged after ${state.em.length - 1} iterations)`;
    document.getElementById("cem-now").textContent =
      `CEM: \u03bc = (${fmt(c.mu[0])}, ${fmt(c.mu[1])}), log-likelihood ${fmt(c.loglik, 3)} (converged after ${state.cem.length - 1} iterations)`;
    const rows = D.x.map((x, i) => `<tr><td>${fmt(x, 1)}</td><td>${fmt(e.resp[i], 4)}</td><td>${fmt(1 - e.resp[i], 4)}</td><td>${c.resp[i]}</td><td>${1 - c.resp[i]}</td></tr>`);
    document.getElementById("resp-body").innerHTML = rows.join("");
    draw();
  }
  function start(m1, m2) {
    state.start = [m1, m2];
    state.em = path(state.start, "em");
    state.cem = path(state.start, "cem");
    state.clicks += 1;
    slider.max = String(Math.max(state.em.length, state.cem.length) - 1);
    slider.value = "0";
    showIteration();
    animate();
  }
  let timer = null;
  function animate() {
    if (timer) { clearInterval(timer); }
    timer = setInterval(() => {
      if (Number(slider.value) >= Number(slider.max)) { clearInterval(timer); timer = null; return; }
      slider.value = String(Number(slider.value) + 1);
      showIteration();
    }, 450);
  }
  canvas.addEventListener("click", (ev) => {
    const box = canvas.getBoundingClientRect();
    const px = (ev.clientX - box.left) * canvas.width / box.width, py = (ev.clientY - box.top) * canvas.height / box.height;
    if (px < M.left || px > M.left + M.size || py < M.top || py > M.top + M.size) { return; }
    const [m1, m2] = toMu(px, py);
    start(m1, m2);
  });
  slider.addEventListener("input", () => { if (timer) { clearInterval(timer); timer = null; } showIteration(); });
  document.getElementById("play").addEventListener("click", () => { if (state.em) { slider.value = "0"; showIteration(); animate(); } });
  for (const el of document.querySelectorAll("input[name=view]")) {
    el.addEventListener("change", () => { renderSurface(); draw(); });
  }
  for (const key of ["unordered", "ordered"]) { document.getElementById("show-" + key).addEventListener("change", draw); }

  renderSurface();
  draw();
  showIteration();
  window.lecture = { path: path, loglik: loglik, start: start, state: state, toPx: toPx, data: D };
})();
