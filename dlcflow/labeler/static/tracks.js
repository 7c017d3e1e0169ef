// The tracklet view: per-individual timelines drawn from the server's downsampled track
// summaries (never from decoded video), a frame cursor, and the edit buttons/keys.
const token = document.querySelector('meta[name="dlcflow-token"]').content;
const $ = (id) => document.getElementById(id);

const state = {
  info: null, timeline: null, cursor: 0, a: null, b: null, frame: null, image: null,
  canvases: {}, marked: new Set(), swaps: { pairs: [], frames: [] }, pair: null,
};

async function api(path, body) {
  const opts = { headers: { "X-Dlcflow-Token": token } };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
  return data;
}

function setStatus(text, kind) {
  const s = $("status");
  s.textContent = text;
  s.title = text;
  s.dataset.state = kind;
}

function showState(st) {
  if (st.marked) {
    state.marked = new Set(st.marked);
    $("marked-count").textContent = `${state.marked.size} marked`;
    drawMarks();
  }
  const n = st.edits.length;
  if (st.dirty) setStatus(`${n} edit${n === 1 ? "" : "s"}, not saved`, "dirty");
  else setStatus(n ? `saved (${n} edit${n === 1 ? "" : "s"})` : "no edits", "saved");
}

function hue(k) { return (k * 137.5 + 200) % 360; }

function buildTracks() {
  const box = $("timelines");
  box.textContent = "";
  state.info.individuals.forEach((ind, k) => {
    const row = document.createElement("div");
    row.className = "track";
    row.dataset.individual = ind;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = ind;
    const canvas = document.createElement("canvas");
    canvas.height = 44;
    canvas.dataset.individual = ind;
    canvas.addEventListener("click", (ev) => {
      const r = canvas.getBoundingClientRect();
      const f = Math.round(((ev.clientX - r.left) / r.width) * (state.info.nframes - 1));
      if (ev.shiftKey) setPair(state.a, ind); else setPair(ind, state.b === ind ? state.a : state.b);
      setCursor(f);
    });
    row.append(name, canvas);
    box.append(row);
    state.canvases[ind] = { canvas, k };
  });
}

function setPair(a, b) {
  state.a = a;
  state.b = b;
  $("ind-a").value = a;
  $("ind-b").value = b;
  for (const row of document.querySelectorAll(".track")) {
    row.classList.toggle("a", row.dataset.individual === a);
    row.classList.toggle("b", row.dataset.individual === b);
  }
}

async function loadTimeline() {
  const first = Object.values(state.canvases)[0];
  const width = Math.max(50, Math.min(4000, Math.round(first.canvas.clientWidth || 1000)));
  state.timeline = await api(`/api/timeline?columns=${width}`);
  drawTimelines();
}

function drawTimelines() {
  const t = state.timeline;
  if (!t) return;
  const n = state.info.nframes;
  // common x and y ranges so a swap shows as a jump of the lines
  let lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
  for (const tr of Object.values(t.tracks)) {
    ["x", "y"].forEach((c, j) => {
      for (const v of tr[c]) if (v !== null) { lo[j] = Math.min(lo[j], v); hi[j] = Math.max(hi[j], v); }
    });
  }
  const start = Number($("range-start").value), stop = Number($("range-stop").value);
  for (const [ind, { canvas, k }] of Object.entries(state.canvases)) {
    const w = Math.max(50, Math.round(canvas.clientWidth || 1000));
    canvas.width = w;
    const h = canvas.height, ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    const tr = t.tracks[ind], m = tr.x.length;
    const fx = (f) => (f / n) * w;
    for (let i = 0; i < m; i++) {
      const p = tr.present[i];
      if (!p) continue;
      const l = tr.likelihood[i] ?? 0;
      ctx.fillStyle = `hsla(${hue(k)}, 70%, ${18 + 35 * l}%, ${0.3 + 0.7 * p})`;
      const x0 = fx(t.edges[i]), x1 = fx(t.edges[i + 1]);
      ctx.fillRect(x0, 0, Math.max(1, x1 - x0), h);
    }
    ["x", "y"].forEach((c, j) => {
      ctx.strokeStyle = j ? "rgba(255,220,120,.9)" : "rgba(255,255,255,.9)";
      ctx.beginPath();
      let pen = false;
      for (let i = 0; i < m; i++) {
        const v = tr[c][i];
        if (v === null) { pen = false; continue; }
        const X = (fx(t.edges[i]) + fx(t.edges[i + 1])) / 2;
        const Y = h - 3 - ((v - lo[j]) / Math.max(1e-9, hi[j] - lo[j])) * (h - 6);
        if (pen) ctx.lineTo(X, Y); else ctx.moveTo(X, Y);
        pen = true;
      }
      ctx.stroke();
    });
    if (stop >= start) {
      ctx.fillStyle = "rgba(78,161,255,.18)";
      ctx.fillRect(fx(start), 0, Math.max(1, fx(stop + 1) - fx(start)), h);
    }
    ctx.fillStyle = "#ef5a5a";
    ctx.fillRect(Math.floor(fx(state.cursor + 0.5)), 0, 2, h);
  }
}

// the body-part swaps the server finds (DLC's find_swapping_bodypart_pairs), on a strip
// above the timelines: one tick per crossing frame
async function loadSwaps() {
  state.swaps = await api("/api/swaps");
  const n = state.swaps.pairs.length;
  $("swap-count").textContent = `${n} swapping pair${n === 1 ? "" : "s"}`;
  drawSwaps();
}

function drawSwaps() {
  drawStrip("swaps-canvas", "#e7b63c", state.swaps.frames.map((f) => f + 1), 2);
}

// a strip above the timelines on their frame scale: a tick per frame of `frames`, at
// least `minWidth` px wide, and the cursor
function drawStrip(id, color, frames, minWidth) {
  const canvas = $(id);
  if (!state.info) return;
  const n = state.info.nframes;
  const w = Math.max(50, Math.round(canvas.clientWidth || 1000));
  canvas.width = w;
  const h = canvas.height, ctx = canvas.getContext("2d");
  const fx = (f) => (f / n) * w;
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = color;
  for (const f of frames) ctx.fillRect(fx(f), 0, Math.max(minWidth, fx(f + 1) - fx(f)), h);
  ctx.fillStyle = "#ef5a5a";
  ctx.fillRect(Math.floor(fx(state.cursor + 0.5)), 0, 2, h);
}

// N / P: the cursor to the next / previous swap (the first frame after the crossing),
// A and B to the two individuals of a pair that crosses there; after the edits asked
// before it (whose swaps it must see)
function jumpSwap(dir) {
  queue = queue.then(() => jumpNow(dir));
  return queue;
}

function jumpNow(dir) {
  const frames = state.swaps.frames.map((f) => f + 1);
  const next = dir > 0 ? frames.find((f) => f > state.cursor)
    : [...frames].reverse().find((f) => f < state.cursor);
  if (next === undefined) return undefined;
  const pair = state.swaps.pairs.find((p) => p.frames.includes(next - 1));
  if (pair) {
    setPair(...pair.individuals);
    state.pair = pair;
    $("swap-pair").textContent = pair.individuals.map((ind, i) => `${ind} ${pair.bodyparts[i]}`).join(" ⇄ ");
  }
  return setCursor(next);
}

// W: exchange the two body parts of the current swap pair between its crossings around
// the cursor (DLC's S; dlcflow swaps the frames after one crossing up to the next one)
function swapParts() {
  const pair = state.pair;
  if (!pair) { setStatus("no swap pair: jump to a swap with N or P first", "error"); return queue; }
  const f = state.cursor;
  const before = pair.frames.filter((c) => c + 1 <= f);
  const after = pair.frames.filter((c) => c >= f);
  const start = before.length ? before[before.length - 1] + 1 : 0;
  const stop = after.length ? after[0] : state.info.nframes - 1;
  return edit("/api/swap", { individuals: pair.individuals, bodyparts: pair.bodyparts, start, stop });
}

// the frames marked for training, on a strip above the timelines (same frame scale)
function drawMarks() {
  drawStrip("marks-canvas", "#47c26b", state.marked, 1);
}

async function setCursor(f) {
  const n = state.info.nframes;
  state.cursor = Math.max(0, Math.min(n - 1, Math.round(f)));
  $("cursor").value = state.cursor;
  drawTimelines();
  drawMarks();
  drawSwaps();
  await loadFrame();
}

async function loadFrame() {
  const f = state.cursor;
  state.frame = await api(`/api/frame?frame=${f}`);
  if (state.info.video) {
    const img = new Image();
    img.src = `/api/image?frame=${f}`;
    try { await img.decode(); state.image = img; } catch { state.image = null; }
  }
  if (f === state.cursor) drawFrame();
}

function drawFrame() {
  const canvas = $("frame-canvas"), ctx = canvas.getContext("2d");
  const img = state.image;
  if (img) { canvas.width = img.naturalWidth; canvas.height = img.naturalHeight; }
  ctx.fillStyle = "#0d0e10";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (img) ctx.drawImage(img, 0, 0);
  const inds = state.info.individuals;
  // trails: each part over the trail_len frames around this one
  const trail = state.frame.trail;
  if (trail) {
    ctx.lineWidth = 2;
    for (const [ind, parts] of Object.entries(trail.individuals)) {
      ctx.strokeStyle = `hsla(${hue(inds.indexOf(ind))}, 80%, 60%, .7)`;
      for (const points of parts) {
        ctx.beginPath();
        let pen = false;
        for (const p of points) {
          if (p === null) { pen = false; continue; }
          if (pen) ctx.lineTo(p[0], p[1]); else ctx.moveTo(p[0], p[1]);
          pen = true;
        }
        ctx.stroke();
      }
    }
    ctx.lineWidth = 1;
  }
  for (const [ind, parts] of Object.entries(state.frame.individuals)) {
    const k = inds.indexOf(ind);
    ctx.fillStyle = `hsl(${hue(k)}, 80%, 60%)`;
    ctx.strokeStyle = ind === state.a ? "#4ea1ff" : ind === state.b ? "#e7b63c" : "#000";
    for (const [, x, y] of parts) {
      if (x === null || y === null) continue;
      ctx.beginPath();
      ctx.arc(x, y, 4, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
    }
    const first = parts.find(([, x, y]) => x !== null && y !== null);
    if (first) { ctx.fillStyle = "#fff"; ctx.fillText(ind, first[1] + 6, first[2] - 6); }
  }
}

function range() {
  return [Number($("range-start").value), Number($("range-stop").value)];
}

// edits run one after another in the order asked (a quick Save after a swap waits for it)
let queue = Promise.resolve();

function edit(path, body) {
  queue = queue.then(async () => {
    try {
      showState(await api(path, body));
      await loadTimeline();
      await loadFrame();
      await loadSwaps();
    } catch (err) {
      setStatus(err.message, "error");
    }
  });
  return queue;
}

const actions = {
  swapFrom: () => edit("/api/swap", { individuals: [state.a, state.b], start: state.cursor }),
  swapRange: () => {
    const [start, stop] = range();
    return edit("/api/swap", { individuals: [state.a, state.b], start, stop });
  },
  deleteRange: () => {
    const [start, stop] = range();
    return edit("/api/delete", { individual: state.a, start, stop });
  },
  undo: () => edit("/api/undo", {}),
  save: () => edit("/api/save", {}),
  markFrame: () => mark({ start: state.cursor }),
  markRange: () => {
    const [start, stop] = range();
    return mark({ start, stop });
  },
  train: () => {
    queue = queue.then(async () => {
      setStatus(`adding ${state.marked.size} frame(s) to the training data…`, "loading");
      try {
        const r = await api("/api/train", {});
        showState(r);
        setStatus(r.message, "added");
      } catch (err) {
        setStatus(err.message, "error");
      }
    });
    return queue;
  },
};

// marks change no track values: only the strip is redrawn
function mark(body) {
  queue = queue.then(async () => {
    try {
      showState(await api("/api/mark", body));
    } catch (err) {
      setStatus(err.message, "error");
    }
  });
  return queue;
}

function onKey(ev) {
  const key = ev.key.toLowerCase();
  // Ctrl+S and Ctrl+Z work everywhere; the single keys not while typing in a field
  if ((ev.ctrlKey || ev.metaKey) && key === "s") { ev.preventDefault(); actions.save(); return; }
  if ((ev.ctrlKey || ev.metaKey) && key === "z") { ev.preventDefault(); actions.undo(); return; }
  if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement) return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const step = ev.shiftKey ? 10 : 1;
  if (ev.key === "ArrowRight") setCursor(state.cursor + step);
  else if (ev.key === "ArrowLeft") setCursor(state.cursor - step);
  else if (ev.key === "[") { $("range-start").value = state.cursor; drawTimelines(); }
  else if (ev.key === "]") { $("range-stop").value = state.cursor; drawTimelines(); }
  else if (key === "s") actions.swapFrom();
  else if (key === "r") actions.swapRange();
  else if (key === "d") actions.deleteRange();
  else if (key === "t") { if (ev.shiftKey) actions.markRange(); else actions.markFrame(); }
  else if (key === "n") jumpSwap(1);
  else if (key === "w") swapParts();
  else if (key === "p") jumpSwap(-1);
  else return;
  ev.preventDefault();
}

async function main() {
  const url = new URL(location.href);
  if (url.searchParams.has("token")) {
    url.searchParams.delete("token"); // the cookie carries it from here on
    history.replaceState(null, "", url);
  }
  try {
    state.info = await api("/api/tracks");
  } catch (err) {
    setStatus(err.message, "error");
    return;
  }
  const info = state.info;
  $("file-name").textContent = info.file;
  $("nframes").textContent = info.nframes;
  for (const id of ["ind-a", "ind-b"]) {
    const sel = $(id);
    for (const ind of info.individuals) sel.append(new Option(ind, ind));
  }
  $("range-stop").value = info.nframes - 1;
  buildTracks();
  setPair(info.individuals[0], info.individuals[1] ?? info.individuals[0]);
  $("ind-a").addEventListener("change", () => setPair($("ind-a").value, state.b));
  $("ind-b").addEventListener("change", () => setPair(state.a, $("ind-b").value));
  $("cursor").addEventListener("change", () => setCursor(Number($("cursor").value)));
  for (const id of ["range-start", "range-stop"]) $(id).addEventListener("input", drawTimelines);
  $("swap-from-btn").addEventListener("click", actions.swapFrom);
  $("swap-range-btn").addEventListener("click", actions.swapRange);
  $("delete-range-btn").addEventListener("click", actions.deleteRange);
  $("undo-btn").addEventListener("click", actions.undo);
  $("save-btn").addEventListener("click", actions.save);
  $("mark-btn").addEventListener("click", actions.markFrame);
  $("mark-range-btn").addEventListener("click", actions.markRange);
  $("train-btn").addEventListener("click", actions.train);
  document.addEventListener("keydown", onKey);
  $("next-swap-btn").addEventListener("click", () => jumpSwap(1));
  $("prev-swap-btn").addEventListener("click", () => jumpSwap(-1));
  $("swap-parts-btn").addEventListener("click", swapParts);
  window.addEventListener("resize", () => { loadTimeline(); drawMarks(); drawSwaps(); });
  showState(info);
  await loadTimeline();
  await loadSwaps();
  await setCursor(0);
  document.body.dataset.ready = "1";
}

window.tracks = { state, actions, setCursor, setPair, jumpSwap, swapParts, drawFrame };
main();
