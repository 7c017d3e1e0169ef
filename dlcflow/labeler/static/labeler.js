// dlcflow labeler page: frames on a canvas, body parts placed by clicking, saved to the
// server as DeepLabCut's CollectedData (an ES module; view.js draws the frame).
import { FrameView, keyOf, splitKey } from "./view.js";
import { installKeys } from "./keys.js";
import { createSkeleton } from "./skeleton.js";

const token = document.querySelector('meta[name="dlcflow-token"]').content;
const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const AUTOSAVE_MS = 2500;

const S = {
  info: null, video: null, frames: [], idx: 0,
  labels: new Map(), // frame -> Map(key -> {x, y, p}); p = likelihood of an untouched prediction
  human: new Set(), // frames whose labels are the user's (saved or loaded from CollectedData)
  locked: new Set(), // refine: frames whose earlier human labels win unless "adjust" is on
  dirty: new Map(), // frame -> change counter
  counter: 0, ind: "", part: 0, img: null, imgFrame: null,
  dot: 12, threshold: 0.6, adjust: false,
  drag: null, pan: null, hover: null, space: false,
  saving: null, again: false, timer: null, error: null,
  ready: false, timings: {},
};
window.labeler = S; // for tests and for poking around in the console

const view = new FrameView(canvas, () => {
  const name = frameName();
  return {
    img: S.img && S.imgFrame === name ? S.img : null,
    points: name ? pointsOf(name) : new Map(),
    selected: S.info ? keyOf(S.ind, parts()[S.part]) : null,
    hover: S.hover,
    ind: S.ind,
    colors: S.info ? S.info.colors : {},
    dot: S.dot,
    threshold: S.threshold,
    multianimal: !!(S.info && S.info.multianimal),
    edges: S.skeleton.on ? S.skeleton.edges : [],
  };
});
S.view = view; // tests click at image positions through view.toCanvas
const draw = () => view.draw();
S.skeleton = createSkeleton(api, draw, (text) => ($("skeleton-status").textContent = text));
function fit() {
  view.fit();
  updateInfo();
}

// -- server ------------------------------------------------------------------------------
async function api(path, body) {
  const headers = { "X-Dlcflow-Token": token };
  const opts = { headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    Object.assign(opts, { method: "POST", body: JSON.stringify(body) });
  }
  const r = await fetch(path, opts);
  const data = await r.json().catch(() => ({ error: `${r.status} ${r.statusText}` }));
  if (!r.ok) throw new Error(data.error || `${r.status} ${r.statusText}`);
  return data;
}
const imageUrl = (name, v) =>
  `/files/labeled-data/${encodeURIComponent(S.video)}/${encodeURIComponent(name)}?v=${v}`;

function setStatus(state, text) {
  const el = $("save-status");
  el.dataset.state = state;
  el.textContent = text;
}

// -- model -------------------------------------------------------------------------------
const partsOf = (ind) =>
  S.info.multianimal && ind === "single" ? S.info.unique_bodyparts : S.info.bodyparts;
const parts = () => partsOf(S.ind);
const frameName = () => (S.frames[S.idx] || [])[0];
function pointsOf(name) {
  let m = S.labels.get(name);
  if (!m) S.labels.set(name, (m = new Map()));
  return m;
}
const editable = (name) => !(S.info.mode === "refine" && !S.adjust && S.locked.has(name));
const nPoints = (name) => (S.labels.get(name) || new Map()).size;
const isDone = (name) => nPoints(name) > 0 && (S.info.mode === "label" || S.human.has(name));

function markDirty(name) {
  S.dirty.set(name, ++S.counter);
  if (S.info.mode === "label") S.human.add(name);
  updateFrameItem(S.idx);
  updateParts();
  updateProgress();
  setStatus("dirty", "Unsaved changes");
  clearTimeout(S.timer);
  S.timer = setTimeout(save, AUTOSAVE_MS);
}

// Autosave and label mode send the changed frames. An explicit save in refine mode sends
// every frame of the video, as DLC's refine Save merges the whole machine-label file.
async function save(explicit = false) {
  clearTimeout(S.timer);
  S.timer = null;
  if (S.saving) {
    S.again = explicit === true ? "all" : S.again || "changed";
    return S.saving;
  }
  const everything = explicit === true && S.info.mode === "refine";
  const names = everything ? S.frames.map((f) => f[0]) : [...S.dirty.keys()];
  if (!names.length) {
    if (!S.error) setStatus("saved", "All changes saved");
    return;
  }
  const video = S.video;
  const sent = new Map(names.map((n) => [n, S.dirty.get(n)]));
  const frames = {};
  for (const name of sent.keys()) {
    frames[name] = [...pointsOf(name)].map(([k, pt]) => [...splitKey(k), pt.x, pt.y]);
  }
  setStatus("saving", "Saving…");
  S.saving = (async () => {
    try {
      const res = await api("/api/save", { video, frames, adjust: S.adjust });
      for (const [name, n] of sent) if (S.dirty.get(name) === n) S.dirty.delete(name);
      for (const name of res.saved) S.human.add(name);
      const summary = S.info.videos.find((v) => v.name === video);
      if (summary) Object.assign(summary, { frames: res.frames, labeled: res.labeled });
      S.error = null;
      const kept = res.skipped.length ? `; ${res.skipped.length} locked frame(s) kept` : "";
      if (S.dirty.size) setStatus("dirty", "Unsaved changes");
      else setStatus("saved", `Saved ${new Date().toLocaleTimeString()}${kept}`);
      S.frames.forEach((f, i) => sent.has(f[0]) && updateFrameItem(i));
      updateProgress();
    } catch (err) {
      S.error = err.message;
      setStatus("error", `Not saved: ${err.message}`);
      clearTimeout(S.timer);
      S.timer = setTimeout(save, 10 * AUTOSAVE_MS); // try again (the server may be back)
    } finally {
      S.saving = null;
      const again = S.again;
      S.again = false;
      if (again) save(again === "all");
    }
  })();
  return S.saving;
}

// -- loading -----------------------------------------------------------------------------
async function loadVideo(name) {
  if (S.dirty.size) {
    await save();
    if (S.saving) await S.saving;
    if (S.dirty.size) {
      $("video-select").value = S.video;
      return;
    }
  }
  const data = await api(`/api/video/${encodeURIComponent(name)}`);
  S.timings.video = S.timings.video || performance.now();
  Object.assign(S, { video: name, frames: data.frames, labels: new Map(), human: new Set() });
  S.locked = new Set(data.locked || []);
  for (const [f, pts] of Object.entries(data.labels)) {
    const m = pointsOf(f);
    for (const [ind, bp, x, y] of pts) m.set(keyOf(ind, bp), { x, y, p: null });
    S.human.add(f);
  }
  for (const [f, pts] of Object.entries(data.machine || {})) {
    if (S.human.has(f)) continue; // frames with human labels show those
    const m = pointsOf(f);
    for (const [ind, bp, x, y, p] of pts) m.set(keyOf(ind, bp), { x, y, p: p ?? 0 });
  }
  $("video-select").value = name;
  buildFrameList();
  S.timings.listed = performance.now();
  const start = S.frames.findIndex(([f]) => !isDone(f));
  showFrame(start < 0 ? 0 : start);
  updateProgress();
}

function showFrame(i) {
  if (!S.frames.length) {
    S.img = null;
    $("frame-info").textContent = "no frames left in this video";
    draw();
    return;
  }
  S.idx = Math.max(0, Math.min(S.frames.length - 1, i));
  const [name, v] = S.frames[S.idx];
  S.ready = false;
  S.hover = null;
  const img = new Image();
  img.onload = () => {
    if (frameName() !== name) return;
    S.img = img;
    S.imgFrame = name;
    view.adopt(img);
    updateInfo();
    S.ready = true;
    if (!S.timings.firstFrame) S.timings.firstFrame = performance.now();
  };
  img.onerror = () => setStatus("error", `cannot load image ${name}`);
  img.src = imageUrl(name, v);
  for (const d of [1, -1, 2]) {
    const f = S.frames[S.idx + d];
    if (f) new Image().src = imageUrl(f[0], f[1]);
  }
  const todo = parts().findIndex((bp) => !pointsOf(name).has(keyOf(S.ind, bp)));
  S.part = todo < 0 ? 0 : todo;
  document.querySelectorAll("#frame-list li.current").forEach((li) => li.classList.remove("current"));
  const li = $("frame-list").children[S.idx];
  if (li) {
    li.classList.add("current");
    li.scrollIntoView({ block: "nearest" });
  }
  $("banner").hidden = editable(name);
  $("banner").textContent =
    "You labeled this frame before: your labels win. Tick \u201cAdjust original labels\u201d to edit them.";
  updateParts();
  updateInfo();
  draw();
}

// -- lists -------------------------------------------------------------------------------
function buildFrameList() {
  const list = $("frame-list");
  const frag = document.createDocumentFragment();
  S.frames.forEach(([name], i) => {
    const li = document.createElement("li");
    li.dataset.i = i;
    li.innerHTML = '<span class="mark"></span><span class="name"></span><span class="count"></span>';
    li.querySelector(".name").textContent = name;
    frag.appendChild(li);
  });
  list.replaceChildren(frag);
  S.frames.forEach((_, i) => updateFrameItem(i));
}

function updateFrameItem(i) {
  const li = $("frame-list").children[i];
  if (!li || !S.frames[i]) return;
  const name = S.frames[i][0];
  const n = nPoints(name);
  const total = S.info.individuals.reduce((a, ind) => a + partsOf(ind).length, 0);
  li.classList.toggle("done", isDone(name));
  li.classList.toggle("partial", n > 0 && !isDone(name));
  li.classList.toggle("dirty", S.dirty.has(name));
  li.querySelector(".count").textContent = `${n}/${total}`;
}

function updateParts() {
  const list = $("bodypart-list");
  const name = frameName();
  const pts = name ? pointsOf(name) : new Map();
  const frag = document.createDocumentFragment();
  parts().forEach((bp, i) => {
    const li = document.createElement("li");
    const has = pts.has(keyOf(S.ind, bp));
    li.className = (i === S.part ? "selected " : "") + (has ? "" : "missing");
    li.dataset.bodypart = bp;
    li.innerHTML = '<span class="key"></span><span class="swatch"></span><span class="bp"></span><span class="state"></span>';
    li.querySelector(".key").textContent = i < 10 ? String((i + 1) % 10) : "";
    li.querySelector(".swatch").style.background = S.info.colors[bp] || "#fff";
    li.querySelector(".bp").textContent = bp;
    li.querySelector(".state").textContent = has ? "\u2713" : "\u2013";
    li.addEventListener("click", () => selectPart(i));
    frag.appendChild(li);
  });
  list.replaceChildren(frag);
}

function updateProgress() {
  let frames = 0;
  let labeled = 0;
  for (const v of S.info.videos) {
    if (v.name === S.video) {
      frames += S.frames.length;
      labeled += S.frames.filter(([f]) => isDone(f)).length;
    } else {
      frames += v.frames;
      labeled += v.labeled;
    }
  }
  const pct = frames ? Math.round((100 * labeled) / frames) : 0;
  $("progress-bar").style.width = `${pct}%`;
  $("progress-text").textContent = `${labeled}/${frames} frames labeled (${pct}%)`;
  const here = S.frames.filter(([f]) => isDone(f)).length;
  $("video-progress").textContent = `${here}/${S.frames.length} frames labeled in this video`;
  for (const opt of $("video-select").options) {
    const v = S.info.videos.find((x) => x.name === opt.value);
    const done = opt.value === S.video ? here : v.labeled;
    const total = opt.value === S.video ? S.frames.length : v.frames;
    opt.textContent = `${opt.value} (${done}/${total})`;
  }
}

function updateInfo() {
  const name = frameName() || "";
  const zoom = Math.round(view.scale * 100);
  $("frame-info").textContent = `${name}  \u2014  frame ${S.idx + 1}/${S.frames.length}  \u2014  zoom ${zoom}%`;
}

function selectPart(i) {
  const n = parts().length;
  S.part = ((i % n) + n) % n;
  updateParts();
  draw();
}

function selectIndividual(ind) {
  S.ind = ind;
  $("individual-select").value = ind;
  const name = frameName();
  const todo = parts().findIndex((bp) => !(name && pointsOf(name).has(keyOf(ind, bp))));
  S.part = todo < 0 ? 0 : todo;
  updateParts();
  draw();
}

// -- editing -----------------------------------------------------------------------------
function place(x, y) {
  const name = frameName();
  const pts = pointsOf(name);
  const list = parts();
  pts.set(keyOf(S.ind, list[S.part]), { x, y, p: null });
  for (let step = 1; step < list.length; step++) {
    const j = (S.part + step) % list.length;
    if (!pts.has(keyOf(S.ind, list[j]))) {
      S.part = j;
      break;
    }
  }
  markDirty(name);
  draw();
}

function removePoint(key) {
  const name = frameName();
  if (!name || !editable(name) || !pointsOf(name).delete(key)) return;
  if (S.hover === key) S.hover = null;
  markDirty(name);
  draw();
}

function copyPrevious() {
  const name = frameName();
  const prev = S.frames[S.idx - 1];
  if (!name || !prev || !editable(name)) return;
  const pts = pointsOf(name);
  let n = 0;
  for (const [k, pt] of pointsOf(prev[0])) {
    if (!pts.has(k)) {
      pts.set(k, { x: pt.x, y: pt.y, p: null });
      n++;
    }
  }
  if (n) markDirty(name);
  draw();
}

async function removeFrame() {
  const name = frameName();
  if (!name) return;
  if (!window.confirm(`Remove ${S.video}/${name}? The image and its labels are deleted.`)) return;
  try {
    await save();
    if (S.saving) await S.saving;
    const res = await api("/api/remove", { video: S.video, frame: name });
    S.frames.splice(S.idx, 1);
    S.labels.delete(name);
    S.dirty.delete(name);
    S.human.delete(name);
    const summary = S.info.videos.find((v) => v.name === S.video);
    if (summary) Object.assign(summary, { frames: res.frames, labeled: res.labeled });
    buildFrameList();
    showFrame(S.idx);
    updateProgress();
    setStatus("saved", `Removed ${name}`);
  } catch (err) {
    setStatus("error", `Not removed: ${err.message}`);
  }
}

// -- mouse -------------------------------------------------------------------------------
const rel = (e) => {
  const r = canvas.getBoundingClientRect();
  return { cx: e.clientX - r.left, cy: e.clientY - r.top };
};

canvas.addEventListener("contextmenu", (e) => e.preventDefault());
canvas.addEventListener("pointerdown", (e) => {
  canvas.focus();
  const { cx, cy } = rel(e);
  if (e.button === 2 || (e.button === 0 && (e.shiftKey || S.space))) {
    S.pan = { cx, cy, ox: view.ox, oy: view.oy };
    canvas.setPointerCapture(e.pointerId);
    canvas.classList.add("panning");
    return;
  }
  if (!S.ready) return;
  const name = frameName();
  const hit = view.hitTest(cx, cy);
  if (e.button === 1) {
    e.preventDefault();
    if (hit) removePoint(hit);
    return;
  }
  if (e.button !== 0) return;
  if (S.skeleton.on) {
    if (hit) S.skeleton.click(splitKey(hit)[1]);
    return;
  }
  if (!editable(name)) {
    $("banner").hidden = false;
    return;
  }
  if (hit) {
    const [ind, bp] = splitKey(hit);
    if (ind !== S.ind) selectIndividual(ind);
    selectPart(parts().indexOf(bp));
    S.drag = { key: hit };
    canvas.setPointerCapture(e.pointerId);
    canvas.classList.add("dragging");
    return;
  }
  const { x, y } = view.toImage(cx, cy);
  if (view.inside(x, y)) place(x, y);
});

canvas.addEventListener("pointermove", (e) => {
  const { cx, cy } = rel(e);
  if (S.pan) {
    view.panTo(S.pan.ox + cx - S.pan.cx, S.pan.oy + cy - S.pan.cy);
    return;
  }
  const { x, y } = view.toImage(cx, cy);
  const over = S.ready && view.inside(x, y);
  $("cursor-pos").textContent = over ? `x ${x.toFixed(1)}  y ${y.toFixed(1)}` : "";
  if (S.drag) {
    const pt = pointsOf(frameName()).get(S.drag.key);
    if (pt) {
      Object.assign(pt, { ...view.clamp(x, y), p: null });
      S.drag.moved = true;
      draw();
    }
    return;
  }
  const hover = S.ready ? view.hitTest(cx, cy) : null;
  if (hover !== S.hover) {
    S.hover = hover;
    canvas.classList.toggle("over-point", !!hover);
    $("hover-info").textContent = hover ? splitKey(hover).filter(Boolean).join(" / ") : "";
    draw();
  }
  canvas.classList.toggle("locked", S.ready && !editable(frameName()));
});

function endPointer() {
  if (S.drag && S.drag.moved) markDirty(frameName());
  S.drag = null;
  S.pan = null;
  canvas.classList.remove("dragging", "panning");
}
canvas.addEventListener("pointerleave", () => {
  $("cursor-pos").textContent = "";
  if (S.drag || S.pan || !S.hover) return;
  S.hover = null;
  canvas.classList.remove("over-point");
  $("hover-info").textContent = "";
  draw();
});
canvas.addEventListener("pointerup", endPointer);
canvas.addEventListener("pointercancel", endPointer);
canvas.addEventListener("mousedown", (e) => e.button === 1 && e.preventDefault());
canvas.addEventListener(
  "wheel",
  (e) => {
    e.preventDefault();
    const { cx, cy } = rel(e);
    view.zoomAt(cx, cy, Math.exp(-e.deltaY * 0.0015));
    updateInfo();
  },
  { passive: false },
);

// -- keys --------------------------------------------------------------------------------
const toggleHelp = (show) => ($("help").hidden = !show);

installKeys({
  ready: () => !!S.info,
  save: () => save(true),
  copyPrevious,
  part: (i) => i < parts().length && selectPart(i),
  stepPart: (d) => selectPart(S.part + d),
  frame: (d) => showFrame(S.idx + d),
  remove: () => removePoint(S.hover || keyOf(S.ind, parts()[S.part])),
  zoom: (factor) => {
    const r = canvas.getBoundingClientRect();
    view.zoomAt(r.width / 2, r.height / 2, factor);
    updateInfo();
  },
  fit,
  individual: (d) => {
    const inds = S.info.individuals;
    selectIndividual(inds[(inds.indexOf(S.ind) + d + inds.length) % inds.length]);
  },
  help: toggleHelp,
  space: (down) => (S.space = down),
});

// -- controls ----------------------------------------------------------------------------
function setupControls() {
  const info = S.info;
  $("mode-badge").textContent = info.mode;
  $("mode-badge").classList.toggle("refine", info.mode === "refine");
  $("project-name").textContent = `${info.task} \u2014 ${info.scorer} \u2014 iteration ${info.iteration}`;
  document.title = `dlcflow ${info.mode}: ${info.task}`;
  const vs = $("video-select");
  for (const v of info.videos) vs.add(new Option(v.name, v.name));
  vs.addEventListener("change", () => {
    vs.blur();
    loadVideo(vs.value).catch((err) => setStatus("error", err.message));
  });
  if (info.multianimal) {
    $("individual-box").hidden = false;
    const is = $("individual-select");
    for (const ind of info.individuals) is.add(new Option(ind, ind));
    is.addEventListener("change", () => {
      is.blur();
      selectIndividual(is.value);
    });
  }
  S.ind = info.individuals[0];
  S.dot = info.dotsize;
  const dot = $("dot-size");
  dot.value = S.dot;
  $("dot-size-value").textContent = S.dot;
  dot.addEventListener("input", () => {
    S.dot = Number(dot.value);
    $("dot-size-value").textContent = S.dot;
    draw();
  });
  if (info.mode === "refine") {
    $("refine-box").hidden = false;
    const th = $("threshold");
    S.threshold = info.pcutoff;
    th.value = S.threshold;
    $("threshold-value").textContent = S.threshold.toFixed(2);
    th.addEventListener("input", () => {
      S.threshold = Number(th.value);
      $("threshold-value").textContent = S.threshold.toFixed(2);
      draw();
    });
    $("adjust").addEventListener("change", (e) => {
      S.adjust = e.target.checked;
      e.target.blur();
      $("banner").hidden = editable(frameName());
      draw();
    });
  }
  $("save-btn").addEventListener("click", () => save(true));
  $("help-btn").addEventListener("click", () => toggleHelp(true));
  $("help-close").addEventListener("click", () => toggleHelp(false));
  $("help").addEventListener("click", (e) => e.target === $("help") && toggleHelp(false));
  $("fit-btn").addEventListener("click", fit);
  $("skeleton-mode").addEventListener("change", (e) => S.skeleton.toggle(e.target.checked));
  $("skeleton-save").addEventListener("click", () =>
    S.skeleton.save().catch((err) => setStatus("error", err.message)));
  $("copy-prev-btn").addEventListener("click", copyPrevious);
  $("remove-btn").addEventListener("click", removeFrame);
  $("frame-list").addEventListener("click", (e) => {
    const li = e.target.closest("li");
    if (li) showFrame(Number(li.dataset.i));
  });
  new ResizeObserver(() => view.resize()).observe($("stage"));
  window.addEventListener("beforeunload", (e) => {
    if (S.dirty.size || S.saving) e.preventDefault();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden" && S.dirty.size) save();
  });
}

async function start() {
  const url = new URL(window.location.href);
  if (url.searchParams.has("token")) {
    url.searchParams.delete("token"); // the cookie carries it from here on
    window.history.replaceState(null, "", url);
  }
  try {
    S.timings.script = performance.now();
    S.info = await api("/api/project");
    S.timings.project = performance.now();
    setupControls();
    await S.skeleton.load();
    if (url.searchParams.get("skeleton")) $("skeleton-mode").click();
    const wanted = url.searchParams.get("video");
    const names = S.info.videos.map((v) => v.name);
    const first = names.includes(wanted) ? wanted :
      (S.info.videos.find((v) => v.labeled < v.frames) || S.info.videos[0] || {}).name;
    if (!first) {
      setStatus("error", "no videos with frames in this project");
      return;
    }
    await loadVideo(first);
    setStatus("saved", "All changes saved");
  } catch (err) {
    setStatus("error", err.message);
  }
}
start();
