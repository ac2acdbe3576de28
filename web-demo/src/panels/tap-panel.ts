/**
 * Message tap: every message in and out of this tab (direction, type, topic, transaction id,
 * size, time), filterable, in a virtualized list over the tap's ring buffer. It stays smooth at
 * thousands of messages a second: recording is O(1) per message, only the visible rows exist in
 * the DOM, and the list is redrawn at most once per animation frame.
 */
import { MessageType, controlTypeName, messageTypeName } from 'autocore-ipc';
import { formatBytes, formatClock, formatRate, h, perFrame, prettyJson } from '../dom.ts';
import type { Connection } from '../connection.ts';
import type { MessageLog, TapEntry } from '../message-log.ts';
import { VirtualList } from '../virtual-list.ts';

const ROW_HEIGHT = 22;
const ANY = -2;

/** The filter the toolbar describes. */
export interface TapFilter {
  /** Topic text: a substring, or a pattern when it holds `*` or `>`; digits also match a transaction id. */
  text: string;
  dir: 'all' | 'in' | 'out';
  /** A MessageType number, or -2 for any. */
  type: number;
  hideHeartbeats: boolean;
}

/** Builds the predicate of a filter. */
export function compileFilter(f: TapFilter): (e: TapEntry) => boolean {
  const text = f.text.trim();
  let topicTest: ((topic: string, txid: number) => boolean) | undefined;
  if (text !== '') {
    if (/[*>]/.test(text)) {
      const source = text
        .split('.')
        .map((seg) =>
          seg === '*' ? '[^.]+' : seg === '>' ? '.+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
        )
        .join('\\.');
      const re = new RegExp(`^${source}$`);
      topicTest = (topic) => re.test(topic);
    } else {
      const needle = text.toLowerCase();
      const txid = /^\d+$/.test(text) ? Number(text) : -1;
      topicTest = (topic, id) => id === txid || topic.toLowerCase().includes(needle);
    }
  }
  const dir = f.dir;
  const type = f.type;
  const hideHeartbeats = f.hideHeartbeats;
  return (e) =>
    (dir === 'all' || e.dir === dir) &&
    (type === ANY || e.type === type) &&
    !(hideHeartbeats && e.type === MessageType.Heartbeat) &&
    (topicTest === undefined || topicTest(e.topic, e.txid));
}

/** "Request", "Response ✗", "Control/Register", ... */
export function typeLabel(e: TapEntry): string {
  if (e.type < 0) return '?';
  const name = messageTypeName(e.type) ?? String(e.type);
  if (e.type === MessageType.Control && e.control >= 0)
    return `${name}/${controlTypeName(e.control) ?? e.control}`;
  if (e.type === MessageType.Response) return e.success ? `${name} ✓` : `${name} ✗`;
  return name;
}

export class TapPanel {
  readonly element: HTMLElement;
  readonly #connection: Connection;
  readonly #log: MessageLog;
  readonly #list: VirtualList;
  readonly #stats: HTMLElement;
  readonly #detail: HTMLPreElement;
  readonly #follow: HTMLInputElement;
  readonly #pause: HTMLButtonElement;
  readonly #filterInputs: {
    text: HTMLInputElement;
    dir: HTMLSelectElement;
    type: HTMLSelectElement;
    hb: HTMLInputElement;
  };
  #matches: (e: TapEntry) => boolean = () => true;
  /** Sequence numbers of the entries that pass the filter, oldest first, from `#head` on. */
  #seqs: number[] = [];
  #head = 0;
  /** Entries trimmed from the front since the last draw. */
  #trimmed = 0;
  #selected = -1;
  #lastStats = { at: performance.now(), inCount: 0, outCount: 0, bytes: 0 };
  #rates = '';
  readonly #render = perFrame(() => this.#draw());

  constructor(connection: Connection) {
    this.#connection = connection;
    const log = connection.log;
    this.#log = log;
    this.#list = new VirtualList({
      rowHeight: ROW_HEIGHT,
      label: 'Messages',
      createRow: () =>
        h(
          'div',
          { class: 'tap-row' },
          h('span', { class: 'c-time' }),
          h('span', { class: 'c-dir' }),
          h('span', { class: 'c-type' }),
          h('span', { class: 'c-topic' }),
          h('span', { class: 'c-tx' }),
          h('span', { class: 'c-size' }),
        ),
      renderRow: (row, index) => this.#renderRow(row, index),
    });
    this.#list.element.classList.add('tap-list');
    this.#list.element.dataset.testid = 'tap-list';
    this.#list.element.addEventListener('click', (ev) => {
      const row = (ev.target as Element).closest<HTMLElement>('.vlist-row');
      if (row?.dataset.seq) this.#select(Number(row.dataset.seq));
    });

    const typeSelect = h(
      'select',
      { 'aria-label': 'Message type', 'data-testid': 'tap-type' },
      h('option', { value: String(ANY) }, 'any type'),
    );
    for (const [name, value] of Object.entries(MessageType))
      typeSelect.append(h('option', { value: String(value) }, name));
    this.#filterInputs = {
      text: h('input', {
        type: 'search',
        placeholder: 'filter topic (press1.*, 42)',
        'aria-label': 'Filter by topic or transaction id',
        'data-testid': 'tap-filter',
        spellcheck: 'false',
      }),
      dir: h(
        'select',
        { 'aria-label': 'Direction', 'data-testid': 'tap-dir' },
        h('option', { value: 'all' }, 'in + out'),
        h('option', { value: 'in' }, '↓ in'),
        h('option', { value: 'out' }, '↑ out'),
      ),
      type: typeSelect,
      hb: h('input', { type: 'checkbox' }),
    };
    for (const input of Object.values(this.#filterInputs))
      input.addEventListener('input', () => this.#applyFilter());
    this.#follow = h('input', { type: 'checkbox', checked: true, 'data-testid': 'tap-follow' });
    this.#follow.addEventListener('change', () => {
      if (this.#follow.checked) this.#list.scrollToEnd();
      else this.#list.follow = false;
    });
    this.#list.onFollowChange = (follow) => {
      this.#follow.checked = follow;
    };
    this.#pause = h(
      'button',
      {
        type: 'button',
        class: 'ghost small',
        'data-testid': 'tap-pause',
        onclick: () => this.#togglePause(),
      },
      'Pause',
    );
    this.#stats = h('span', { class: 'muted small tap-stats', 'data-testid': 'tap-stats' });
    this.#detail = h(
      'pre',
      { class: 'tap-detail', 'data-testid': 'tap-detail' },
      'Click a message to see it whole.',
    );

    this.element = h(
      'section',
      { class: 'panel tap-panel', 'aria-labelledby': 'tap-title' },
      h('div', { class: 'panel-head' }, h('h2', { id: 'tap-title' }, 'Message tap'), this.#stats),
      h(
        'div',
        { class: 'toolbar' },
        this.#filterInputs.text,
        this.#filterInputs.dir,
        this.#filterInputs.type,
        h('label', { class: 'check' }, this.#filterInputs.hb, 'hide heartbeats'),
        h('label', { class: 'check' }, this.#follow, 'follow'),
        this.#pause,
        h('button', { type: 'button', class: 'ghost small', onclick: () => log.clear() }, 'Clear'),
      ),
      h(
        'div',
        { class: 'tap-body' },
        h(
          'div',
          { class: 'tap-table' },
          h(
            'div',
            { class: 'tap-row tap-header', 'aria-hidden': 'true' },
            h('span', { class: 'c-time' }, 'time'),
            h('span', { class: 'c-dir' }, ''),
            h('span', { class: 'c-type' }, 'type'),
            h('span', { class: 'c-topic' }, 'topic'),
            h('span', { class: 'c-tx' }, 'tx id'),
            h('span', { class: 'c-size' }, 'size'),
          ),
          this.#list.element,
        ),
        this.#detail,
      ),
    );

    log.onAppend((entries) => {
      for (const e of entries) if (this.#matches(e)) this.#seqs.push(e.seq);
      // Trim here too (not only when drawing), so a hidden tab without frames stays bounded.
      if (this.#seqs.length - this.#head > log.buffer.capacity) this.#trim();
      this.#render();
    });
    log.onClear(() => {
      this.#seqs = [];
      this.#head = 0;
      this.#trimmed = 0;
      this.#list.invalidate();
      this.#render();
    });
    setInterval(() => this.#updateStats(), 1000);
    this.#updateStats();
  }

  /** Entries currently passing the filter. */
  get shownCount(): number {
    return this.#seqs.length - this.#head;
  }

  #applyFilter(): void {
    this.#matches = compileFilter({
      text: this.#filterInputs.text.value,
      dir: this.#filterInputs.dir.value as TapFilter['dir'],
      type: Number(this.#filterInputs.type.value),
      hideHeartbeats: this.#filterInputs.hb.checked,
    });
    const buffer = this.#log.buffer;
    const seqs: number[] = [];
    for (let seq = buffer.firstSeq; seq < buffer.nextSeq; seq++) {
      const e = buffer.get(seq);
      if (e && this.#matches(e)) seqs.push(seq);
    }
    this.#seqs = seqs;
    this.#head = 0;
    this.#trimmed = 0;
    this.#list.invalidate();
    this.#render();
  }

  /**
   * Drops filtered entries the ring buffer has overwritten. They are counted in `#trimmed` until
   * the next draw, which moves the rows up by that much.
   */
  #trim(): void {
    const first = this.#log.buffer.firstSeq;
    const start = this.#head;
    while (this.#head < this.#seqs.length && (this.#seqs[this.#head] as number) < first)
      this.#head++;
    this.#trimmed += this.#head - start;
    if (this.#head > 4096 && this.#head * 2 > this.#seqs.length) {
      this.#seqs = this.#seqs.slice(this.#head);
      this.#head = 0;
    }
  }

  #draw(): void {
    this.#trim();
    const trimmed = this.#trimmed;
    this.#trimmed = 0;
    // Rows moved up by `trimmed`: keep the user's view where it was (unless following).
    if (trimmed > 0) this.#list.shift(-trimmed);
    this.#list.setCount(this.shownCount);
    // Every index now names another message: redraw all rows.
    this.#list.render(trimmed > 0);
    this.#updateCounts();
  }

  #renderRow(row: HTMLElement, index: number): void {
    const seq = this.#seqs[this.#head + index];
    const e = seq === undefined ? undefined : this.#log.buffer.get(seq);
    const cells = row.children;
    if (!e) {
      for (const c of cells) c.textContent = '';
      row.dataset.seq = '';
      return;
    }
    row.dataset.seq = String(e.seq);
    row.dataset.dir = e.dir;
    row.classList.toggle('failed', e.type === MessageType.Response && !e.success);
    row.classList.toggle('selected', e.seq === this.#selected);
    (cells[0] as HTMLElement).textContent = formatClock(e.time);
    (cells[1] as HTMLElement).textContent = e.dir === 'in' ? '↓' : '↑';
    (cells[2] as HTMLElement).textContent = typeLabel(e);
    (cells[3] as HTMLElement).textContent = e.topic;
    (cells[4] as HTMLElement).textContent = e.txid === 0 ? '' : String(e.txid);
    (cells[5] as HTMLElement).textContent = String(e.size);
  }

  #select(seq: number): void {
    this.#selected = seq;
    // Keep the chosen row where it is instead of letting new messages push it away.
    this.#list.follow = false;
    this.#follow.checked = false;
    const e = this.#log.buffer.get(seq);
    if (!e) {
      this.#detail.textContent = 'That message is no longer in the buffer.';
      return;
    }
    let body: string;
    try {
      body = prettyJson(JSON.parse(e.raw));
    } catch {
      body = e.raw;
    }
    this.#detail.textContent = `${e.dir === 'in' ? '↓ in' : '↑ out'} · ${typeLabel(e)} · ${formatClock(e.time)} · ${e.size} B\n${body}`;
    this.#list.invalidate();
    this.#render();
  }

  #togglePause(): void {
    const paused = !this.#log.paused;
    this.#connection.setTapPaused(paused);
    this.#pause.textContent = paused ? 'Resume' : 'Pause';
    this.#pause.setAttribute('aria-pressed', paused ? 'true' : 'false');
  }

  /** Rates, once a second. */
  #updateStats(): void {
    const now = performance.now();
    const t = this.#log.totals;
    const dt = Math.max(0.001, (now - this.#lastStats.at) / 1000);
    // Totals restart with a new connection: never show a negative rate.
    const inRate = Math.max(0, t.in - this.#lastStats.inCount) / dt;
    const outRate = Math.max(0, t.out - this.#lastStats.outCount) / dt;
    const byteRate = Math.max(0, t.bytes - this.#lastStats.bytes) / dt;
    this.#lastStats = { at: now, inCount: t.in, outCount: t.out, bytes: t.bytes };
    this.#rates = `↓ ${formatRate(inRate)}/s · ↑ ${formatRate(outRate)}/s · ${formatBytes(Math.round(byteRate))}/s`;
    this.#updateCounts();
  }

  /** Counts, with every draw (cheap: one text node, only when it changed). */
  #updateCounts(): void {
    const log = this.#log;
    const t = log.totals;
    const text =
      `${this.#rates} · showing ${this.shownCount.toLocaleString('en-US')} of ` +
      `${log.buffer.length.toLocaleString('en-US')} kept (${(t.in + t.out).toLocaleString('en-US')} seen)` +
      (log.paused ? ' · paused' : '') +
      (log.dropped > 0 ? ` · ${log.dropped.toLocaleString('en-US')} skipped` : '');
    if (this.#stats.textContent !== text) this.#stats.textContent = text;
  }
}
