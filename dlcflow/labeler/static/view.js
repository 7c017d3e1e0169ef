// The frame on the canvas: placement (fit, zoom, pan), image <-> canvas coordinates, drawing
// and hit testing. Image coordinates follow DeepLabCut: pixel centres at integer x, y, so the
// image covers -0.5 .. width-0.5. Canvas coordinates are CSS pixels from the canvas corner.

export const SEP = "\t";
export const keyOf = (ind, bp) => ind + SEP + bp;
export const splitKey = (k) => k.split(SEP);

// Marker radius in CSS px: dotsize is in points as in DLC (4/3 px each), halved.
const radius = (dot) => Math.max(1, (dot * 2) / 3);

export class FrameView {
  // scene() returns what to draw: {img, points: Map(key -> {x, y, p}), selected, hover, ind,
  // colors, dot, threshold, multianimal}; p is the likelihood of an untouched prediction.
  constructor(canvas, scene) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.scene = scene;
    Object.assign(this, { scale: 1, ox: 0, oy: 0, w: 0, h: 0, auto: true });
  }

  rect() {
    return this.canvas.getBoundingClientRect();
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const r = this.rect();
    this.canvas.width = Math.max(1, Math.round(r.width * dpr));
    this.canvas.height = Math.max(1, Math.round(r.height * dpr));
    if (this.auto) this.fit();
    this.draw();
  }

  // Show the whole image, centred; returns false without an image.
  fit() {
    const { img } = this.scene();
    if (!img) return false;
    const r = this.rect();
    const w = img.naturalWidth;
    const h = img.naturalHeight;
    const scale = Math.min(r.width / w, r.height / h) * 0.98;
    Object.assign(this, { scale, w, h, auto: true });
    this.ox = (r.width - w * scale) / 2;
    this.oy = (r.height - h * scale) / 2;
    this.draw();
    return true;
  }

  // Fit when asked to keep fitting or when the image size changed; else keep zoom and pan.
  adopt(img) {
    if (this.auto || img.naturalWidth !== this.w || img.naturalHeight !== this.h) this.fit();
    else this.draw();
  }

  zoomAt(cx, cy, factor) {
    const s = Math.min(64, Math.max(0.05, this.scale * factor));
    const k = s / this.scale;
    this.ox = cx - (cx - this.ox) * k;
    this.oy = cy - (cy - this.oy) * k;
    this.scale = s;
    this.auto = false;
    this.draw();
  }

  panTo(ox, oy) {
    Object.assign(this, { ox, oy, auto: false });
    this.draw();
  }

  toImage(cx, cy) {
    return { x: (cx - this.ox) / this.scale - 0.5, y: (cy - this.oy) / this.scale - 0.5 };
  }

  toCanvas(x, y) {
    return { cx: this.ox + (x + 0.5) * this.scale, cy: this.oy + (y + 0.5) * this.scale };
  }

  inside(x, y) {
    return this.w > 0 && x >= -0.5 && y >= -0.5 && x <= this.w - 0.5 && y <= this.h - 0.5;
  }

  clamp(x, y) {
    return {
      x: Math.min(this.w - 0.5, Math.max(-0.5, x)),
      y: Math.min(this.h - 0.5, Math.max(-0.5, y)),
    };
  }

  // The key of the point under (cx, cy), preferring the current individual's points.
  hitTest(cx, cy) {
    const { points, ind, dot } = this.scene();
    const reach = Math.max(6, radius(dot)) + 3;
    let best = null;
    let bestD = Infinity;
    for (const [k, pt] of points) {
      const p = this.toCanvas(pt.x, pt.y);
      let d = Math.hypot(p.cx - cx, p.cy - cy);
      if (splitKey(k)[0] !== ind) d += 2;
      if (d <= reach && d < bestD) [best, bestD] = [k, d];
    }
    return best;
  }

  draw() {
    const { ctx, canvas } = this;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#0d0e10";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const s = this.scene();
    if (!s.img) return;
    ctx.setTransform(dpr * this.scale, 0, 0, dpr * this.scale, dpr * this.ox, dpr * this.oy);
    ctx.imageSmoothingEnabled = this.scale < 4;
    ctx.drawImage(s.img, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const r = radius(s.dot);
    this.edges(s);
    for (const [k, pt] of s.points) {
      const [ind, bp] = splitKey(k);
      const { cx, cy } = this.toCanvas(pt.x, pt.y);
      const color = s.colors[bp] || "#ffffff";
      ctx.globalAlpha = s.multianimal && ind !== s.ind ? 0.45 : 1;
      ctx.beginPath();
      ctx.arc(cx, cy, r, 0, 2 * Math.PI);
      if (pt.p !== null && pt.p < s.threshold) {
        ctx.lineWidth = Math.max(1.5, r / 3); // a prediction under the threshold: hollow
        ctx.strokeStyle = color;
        ctx.stroke();
      } else {
        ctx.fillStyle = color;
        ctx.fill();
        ctx.lineWidth = 1;
        ctx.strokeStyle = "rgba(0,0,0,0.7)";
        ctx.stroke();
      }
      if (k === s.selected || k === s.hover) {
        ctx.beginPath();
        ctx.arc(cx, cy, r + 3, 0, 2 * Math.PI);
        ctx.lineWidth = 1.5;
        ctx.strokeStyle = "#ffffff";
        ctx.stroke();
      }
      if (k === s.hover) this.tag(cx + r + 4, cy, (ind ? `${ind} ` : "") + bp, pt.p);
    }
    ctx.globalAlpha = 1;
  }

  edges(s) {
    // the skeleton's edges between the points of each individual (skeleton builder)
    const { ctx } = this;
    ctx.lineWidth = 2;
    for (const [a, b] of s.edges || []) {
      for (const [k, pa] of s.points) {
        const [ind, bp] = splitKey(k);
        const pb = bp === a ? s.points.get(keyOf(ind, b)) : null;
        if (!pb) continue;
        const p = this.toCanvas(pa.x, pa.y);
        const q = this.toCanvas(pb.x, pb.y);
        ctx.strokeStyle = s.colors[a] || "#ffffff";
        ctx.beginPath();
        ctx.moveTo(p.cx, p.cy);
        ctx.lineTo(q.cx, q.cy);
        ctx.stroke();
      }
    }
  }

  tag(x, y, text, p) {
    const { ctx } = this;
    const label = text + (p !== null ? ` ${p.toFixed(2)}` : "");
    ctx.font = "12px system-ui, sans-serif";
    const w = ctx.measureText(label).width;
    ctx.fillStyle = "rgba(0,0,0,0.7)";
    ctx.fillRect(x, y - 9, w + 8, 18);
    ctx.fillStyle = "#ffffff";
    ctx.fillText(label, x + 4, y + 4);
  }
}
