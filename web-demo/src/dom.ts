/**
 * A few DOM helpers, so the console needs no UI framework: element creation, throttling to
 * animation frames, and formatting.
 */

type Child = Node | string | number | null | undefined | false;
type AttrValue = string | number | boolean | null | undefined | ((ev: Event) => void);

/**
 * Creates an element. `class` sets the class name, `on<event>` functions become listeners,
 * `true` sets an empty attribute, `false`/`null`/`undefined` skip it.
 *
 * @example
 * ```ts
 * const b = h('button', { class: 'primary', type: 'button', onclick: () => send() }, 'Send');
 * ```
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, AttrValue> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = String(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Appends children, skipping empty ones. */
export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/**
 * Wraps `fn` so that any number of calls within one frame run it once, at the next animation
 * frame. Returns the scheduling function.
 *
 * @example
 * ```ts
 * const render = perFrame(() => list.render());
 * source.on('data', render); // renders at most once a frame
 * ```
 */
export function perFrame(fn: () => void): () => void {
  let scheduled = false;
  const run = (): void => {
    scheduled = false;
    fn();
  };
  return () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(run);
  };
}

const pad2 = (n: number): string => (n < 10 ? '0' : '') + n;

/** `HH:MM:SS.mmm` in local time. */
export function formatClock(epochMs: number): string {
  const d = new Date(epochMs);
  const ms = d.getMilliseconds();
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}`;
}

/** `512 B`, `1.5 kB`, `2.0 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(1)} kB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** A rate with a sensible number of decimals. */
export function formatRate(perSecond: number): string {
  if (perSecond === 0) return '0';
  if (perSecond < 10) return perSecond.toFixed(1);
  return Math.round(perSecond).toLocaleString('en-US');
}

/** A JSON value on one line, clipped to `max` characters. */
export function previewJson(value: unknown, max = 120): string {
  let text: string;
  if (typeof value === 'number')
    text = Number.isInteger(value) ? String(value) : String(Math.round(value * 1000) / 1000);
  else {
    try {
      text = JSON.stringify(value) ?? 'undefined';
    } catch {
      text = String(value);
    }
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Pretty-printed JSON (2 spaces), or the value as text when it cannot be stringified. */
export function prettyJson(value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? 'undefined';
  } catch {
    return String(value);
  }
}

/** The message of anything thrown, with the IpcError code in front when there is one. */
export function errorText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}
