// The 2AFC trial page: original in the middle, two reconstructions left and right, a synchronous
// magnifier (Patel et al. 2021, Sec. 2.1 and supplement Fig. 1), keyboard answers, progress bar.
// The server decides and records which codec is on which side; this page only says "left"/"right".
"use strict";
(() => {
  const match = location.pathname.match(/^\/s\/([A-Za-z0-9_-]{16,64})\/trial$/);
  if (!match) return;
  const api = `/api/${match[1]}`;
  const SLOTS = ["left", "original", "right"];
  const $ = (id) => document.getElementById(id);
  const imgs = Object.fromEntries(SLOTS.map((s) => [s, $(`img-${s}`)]));
  const mags = Object.fromEntries(SLOTS.map((s) => [s, $(`mag-${s}`)]));
  const lenses = Object.fromEntries(SLOTS.map((s) => [s, imgs[s].parentElement.querySelector(".lens")]));
  const body = document.body;
  const magnifier = $("magnifier");

  let current = null; // the presentation being answered: {presentation, width, height, ...}
  let shownAt = 0;
  let zoom = 3; // magnification; "+" and "-" change it
  let lastUV = null;

  function setState(state) {
    body.dataset.state = state;
    const ready = state === "ready";
    $("choose-left").disabled = !ready;
    $("choose-right").disabled = !ready;
  }

  function message(text) { $("message").textContent = text; }

  function showProgress(p) {
    $("progress").max = Math.max(1, p.quota);
    $("progress").value = p.answered;
    $("progress-text").textContent = `${p.answered} / ${p.quota}`;
  }

  async function loadImage(img, url) {
    img.src = url;
    await img.decode();
  }

  async function loadNext() {
    setState("loading");
    hideMagnifier();
    const r = await fetch(`${api}/next`, { cache: "no-store" });
    if (!r.ok) throw new Error(`server answered ${r.status}`);
    const next = await r.json();
    showProgress(next.progress);
    if (next.done) {
      $("study").hidden = true;
      $("done").hidden = false;
      setState("done");
      return;
    }
    current = next;
    await Promise.all(SLOTS.map((s) => loadImage(imgs[s], next.images[s])));
    body.dataset.presentation = String(next.presentation);
    sizeMagnifier();
    shownAt = performance.now();
    message("");
    setState("ready");
  }

  async function answer(side) {
    if (body.dataset.state !== "ready") return;
    const responseMs = Math.round(performance.now() - shownAt);
    setState("submitting");
    message("Saving…");
    try {
      const r = await fetch(`${api}/vote`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ presentation: current.presentation, side, response_ms: responseMs }),
      });
      if (!r.ok) throw new Error(`server answered ${r.status}`);
      showProgress((await r.json()).progress);
    } catch (e) {
      message(`Your answer was not saved (${e.message}). Check the connection and answer again.`);
      setState("ready");
      return;
    }
    // The vote is committed on the server before the next trial is requested.
    try { await loadNext(); } catch (e) { failed(e); }
  }

  function failed(e) {
    message(`Could not load the next comparison (${e.message}). Reload the page to continue.`);
    setState("error");
  }

  // ------------------------------------------------------------------ magnifier
  function sizeMagnifier() {
    for (const s of SLOTS) {
      const c = mags[s];
      const w = c.clientWidth || imgs[s].clientWidth;
      const h = Math.round((w * 2) / 3);
      c.style.height = `${h}px`;
      const dpr = window.devicePixelRatio || 1;
      c.width = Math.max(1, Math.round(w * dpr));
      c.height = Math.max(1, Math.round(h * dpr));
    }
  }

  function hideMagnifier() {
    body.classList.remove("magnifying");
    delete magnifier.dataset.x;
    delete magnifier.dataset.y;
  }

  function magnify(u, v) {
    if (!current || body.dataset.state === "loading") return;
    lastUV = [u, v];
    const W = current.width, H = current.height;
    const cssW = mags.original.clientWidth, cssH = (cssW * 2) / 3;
    // Screen pixels per image pixel: `zoom`, and never less than `zoom` times the overview's scale,
    // so that small images shown enlarged are still magnified.
    const scale = zoom * Math.max(1, imgs.original.clientWidth / W);
    const sw = Math.min(W, cssW / scale), sh = Math.min(H, cssH / scale); // window in image pixels
    const cx = u * W, cy = v * H;
    const sx = Math.min(Math.max(cx - sw / 2, 0), W - sw);
    const sy = Math.min(Math.max(cy - sh / 2, 0), H - sh);
    for (const s of SLOTS) {
      const ctx = mags[s].getContext("2d");
      ctx.imageSmoothingEnabled = false; // show the real pixels, artefacts included
      ctx.drawImage(imgs[s], sx, sy, sw, sh, 0, 0, mags[s].width, mags[s].height);
      const lens = lenses[s].style;
      lens.left = `${(100 * sx) / W}%`;
      lens.top = `${(100 * sy) / H}%`;
      lens.width = `${(100 * sw) / W}%`;
      lens.height = `${(100 * sh) / H}%`;
    }
    magnifier.dataset.x = String(Math.round(cx));
    magnifier.dataset.y = String(Math.round(cy));
    body.classList.add("magnifying");
  }

  for (const s of SLOTS) {
    const frame = imgs[s].parentElement;
    frame.addEventListener("mousemove", (ev) => {
      const r = imgs[s].getBoundingClientRect();
      const u = Math.min(Math.max((ev.clientX - r.left) / r.width, 0), 1);
      const v = Math.min(Math.max((ev.clientY - r.top) / r.height, 0), 1);
      magnify(u, v);
    });
    frame.addEventListener("mouseleave", hideMagnifier);
  }
  window.addEventListener("resize", () => { sizeMagnifier(); if (lastUV && body.classList.contains("magnifying")) magnify(...lastUV); });

  // ------------------------------------------------------------------ answers
  document.addEventListener("keydown", (ev) => {
    if (ev.repeat || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (ev.key === "ArrowLeft" || ev.key === "a" || ev.key === "A") { ev.preventDefault(); answer("left"); }
    else if (ev.key === "ArrowRight" || ev.key === "d" || ev.key === "D") { ev.preventDefault(); answer("right"); }
    else if (ev.key === "+" || ev.key === "=") { zoom = Math.min(8, zoom * 1.25); if (lastUV) magnify(...lastUV); }
    else if (ev.key === "-") { zoom = Math.max(1, zoom / 1.25); if (lastUV) magnify(...lastUV); }
  });
  $("choose-left").addEventListener("click", () => answer("left"));
  $("choose-right").addEventListener("click", () => answer("right"));

  setState("loading");
  loadNext().catch(failed);
})();
