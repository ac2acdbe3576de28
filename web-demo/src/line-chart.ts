/**
 * A small live chart on a canvas (no chart library): the last `windowMs` of one numeric series,
 * kept as fixed time buckets (min, max, last per bucket), so memory and drawing cost stay the
 * same at 10 or 10,000 samples a second.
 */
import { h } from './dom.ts';

interface Bucket {
  /** Bucket number (floor(time / bucketMs)); -1 = empty. */
  n: number;
  min: number;
  max: number;
  last: number;
}

/** Options of {@link LineChart}. */
export interface LineChartOptions {
  /** Time span shown, ms. Default 30 000. */
  windowMs?: number;
  /** Bucket width, ms. Default 100. */
  bucketMs?: number;
  /** Accessible label. */
  label?: string;
}

/**
 * @example
 * ```ts
 * const chart = new LineChart({ windowMs: 30_000 });
 * panel.append(chart.element);
 * chart.add(Date.now(), 1187.5);
 * chart.draw(); // once per animation frame at most
 * ```
 */
export class LineChart {
  readonly element: HTMLCanvasElement;
  readonly #windowMs: number;
  readonly #bucketMs: number;
  readonly #buckets: Bucket[];
  #samples = 0;
  #width = 0;
  #height = 0;
  #colors = {
    line: '#2f7de1',
    band: 'rgba(47,125,225,0.18)',
    grid: 'rgba(128,128,128,0.25)',
    text: '#888',
  };

  constructor(options: LineChartOptions = {}) {
    this.#windowMs = options.windowMs ?? 30_000;
    this.#bucketMs = options.bucketMs ?? 100;
    const count = Math.ceil(this.#windowMs / this.#bucketMs) + 1;
    this.#buckets = Array.from({ length: count }, () => ({ n: -1, min: 0, max: 0, last: 0 }));
    this.element = h('canvas', {
      class: 'chart',
      role: 'img',
      'aria-label': options.label ?? 'live chart',
    });
    new ResizeObserver(() => this.#resize()).observe(this.element);
  }

  /** Samples added since the last reset. */
  get samples(): number {
    return this.#samples;
  }

  /** Adds one sample. */
  add(time: number, value: number): void {
    this.addRange(time, value, value, value);
  }

  /** Adds a summary of several samples taken up to `time`: their lowest, highest and last value. */
  addRange(time: number, min: number, max: number, last: number): void {
    if (!Number.isFinite(min) || !Number.isFinite(max) || !Number.isFinite(last)) return;
    const n = Math.floor(time / this.#bucketMs);
    const b = this.#buckets[n % this.#buckets.length] as Bucket;
    if (b.n !== n) {
      b.n = n;
      b.min = min;
      b.max = max;
    } else {
      if (min < b.min) b.min = min;
      if (max > b.max) b.max = max;
    }
    b.last = last;
    this.#samples++;
  }

  /** Forgets every sample. */
  reset(): void {
    for (const b of this.#buckets) b.n = -1;
    this.#samples = 0;
  }

  #resize(): void {
    const dpr = globalThis.devicePixelRatio || 1;
    this.#width = this.element.clientWidth;
    this.#height = this.element.clientHeight;
    this.element.width = Math.max(1, Math.round(this.#width * dpr));
    this.element.height = Math.max(1, Math.round(this.#height * dpr));
    // Colors come from CSS custom properties; read them here, not on every frame.
    const style = getComputedStyle(this.element);
    const read = (name: string, fallback: string): string =>
      style.getPropertyValue(name).trim() || fallback;
    this.#colors = {
      line: read('--chart-line', this.#colors.line),
      band: read('--chart-band', this.#colors.band),
      grid: read('--chart-grid', this.#colors.grid),
      text: read('--chart-text', this.#colors.text),
    };
    this.draw();
  }

  /** Draws the window ending now. */
  draw(now = Date.now()): void {
    const ctx = this.element.getContext('2d');
    const w = this.#width;
    const hgt = this.#height;
    if (!ctx || w === 0 || hgt === 0) return;
    const dpr = this.element.width / w;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    const { line: fg, band, grid, text } = this.#colors;

    const newest = Math.floor(now / this.#bucketMs);
    const oldest = newest - this.#buckets.length + 1;
    let lo = Infinity;
    let hi = -Infinity;
    for (const b of this.#buckets) {
      if (b.n < oldest || b.n > newest) continue;
      if (b.min < lo) lo = b.min;
      if (b.max > hi) hi = b.max;
    }
    const padL = 48;
    const padR = 8;
    const padT = 8;
    const padB = 16;
    const plotW = Math.max(1, w - padL - padR);
    const plotH = Math.max(1, hgt - padT - padB);
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = text;
    ctx.strokeStyle = grid;
    ctx.lineWidth = 1;
    if (lo === Infinity) {
      ctx.textAlign = 'center';
      ctx.fillText('no numeric samples yet', w / 2, hgt / 2);
      return;
    }
    if (hi === lo) {
      hi += 1;
      lo -= 1;
    }
    const span = hi - lo;
    hi += span * 0.08;
    lo -= span * 0.08;
    const x = (n: number): number => padL + ((n - oldest + 0.5) / this.#buckets.length) * plotW;
    const y = (v: number): number => padT + (1 - (v - lo) / (hi - lo)) * plotH;

    // Grid and labels.
    ctx.beginPath();
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let i = 0; i <= 4; i++) {
      const v = lo + ((hi - lo) * i) / 4;
      const yy = Math.round(y(v)) + 0.5;
      ctx.moveTo(padL, yy);
      ctx.lineTo(w - padR, yy);
      ctx.fillText(formatTick(v, hi - lo), padL - 4, yy);
    }
    ctx.stroke();
    ctx.textAlign = 'left';
    ctx.textBaseline = 'alphabetic';
    ctx.fillText(`-${Math.round(this.#windowMs / 1000)} s`, padL, hgt - 3);
    ctx.textAlign = 'right';
    ctx.fillText('now', w - padR, hgt - 3);

    // Min-max band, then the line through each bucket's last value.
    ctx.fillStyle = band;
    for (let n = oldest; n <= newest; n++) {
      const b = this.#buckets[n % this.#buckets.length] as Bucket;
      if (b.n !== n || b.max === b.min) continue;
      const top = y(b.max);
      ctx.fillRect(
        x(n) - plotW / this.#buckets.length / 2,
        top,
        plotW / this.#buckets.length + 0.5,
        Math.max(1, y(b.min) - top),
      );
    }
    ctx.strokeStyle = fg;
    ctx.lineWidth = 1.5;
    ctx.lineJoin = 'round';
    ctx.beginPath();
    let pen = false;
    for (let n = oldest; n <= newest; n++) {
      const b = this.#buckets[n % this.#buckets.length] as Bucket;
      if (b.n !== n) continue;
      if (pen) ctx.lineTo(x(n), y(b.last));
      else ctx.moveTo(x(n), y(b.last));
      pen = true;
    }
    ctx.stroke();
  }
}

function formatTick(v: number, span: number): string {
  const digits = span >= 100 ? 0 : span >= 10 ? 1 : span >= 1 ? 2 : 3;
  return v.toFixed(digits);
}
