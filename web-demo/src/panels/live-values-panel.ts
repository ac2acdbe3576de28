/**
 * Live values: subscribe with a topic pattern (default `press1.>`), see every topic's newest
 * value and update rate, and chart one numeric topic. The worker sends what changed a few dozen
 * times a second; the table is redrawn at most 5 times a second and the chart once per frame.
 */
import type { Connection } from '../connection.ts';
import { errorText, formatRate, h, previewJson } from '../dom.ts';
import { LineChart } from '../line-chart.ts';
import type { ChartPoint, ConnectionStatus, ValueUpdate } from '../protocol.ts';

interface TopicStat {
  topic: string;
  value: unknown;
  /** Messages so far, as counted by the worker. */
  count: number;
  /** `count` at the last rate tick. */
  countAtTick: number;
  rate: number;
  numeric: boolean;
  dirty: boolean;
  row: HTMLTableRowElement;
  valueCell: HTMLTableCellElement;
  rateCell: HTMLTableCellElement;
}

/** Most topics the table shows; more are counted but not shown. */
export const MAX_TOPICS = 500;
/** Shortest time between two table redraws, ms. */
const TABLE_INTERVAL_MS = 200;
const RATE_TICK_MS = 1000;

export class LiveValuesPanel {
  readonly element: HTMLElement;
  readonly #connection: Connection;
  readonly #pattern: HTMLInputElement;
  readonly #subError: HTMLElement;
  readonly #chips: HTMLElement;
  readonly #tbody: HTMLTableSectionElement;
  readonly #summary: HTMLElement;
  readonly #chartSelect: HTMLSelectElement;
  readonly #chart: LineChart;
  readonly #stats = new Map<string, TopicStat>();
  #chartTopic: string | undefined;
  #overflow = new Set<string>();
  #lastTick = performance.now();
  #lastTable = 0;
  #tableDirty = false;
  #orderDirty = false;
  #chartDirty = false;
  #frameRequested = false;
  #chipsKey = '';

  constructor(connection: Connection, defaultPattern = 'press1.>') {
    this.#connection = connection;
    this.#pattern = h('input', {
      'aria-label': 'Topic pattern',
      'data-testid': 'subscribe-pattern',
      value: defaultPattern,
      spellcheck: 'false',
      autocomplete: 'off',
    });
    this.#subError = h('div', {
      class: 'json-error',
      role: 'alert',
      'data-testid': 'subscribe-error',
    });
    this.#chips = h('div', { class: 'chips', 'data-testid': 'subscriptions' });
    this.#tbody = h('tbody', {});
    this.#summary = h('span', { class: 'muted small', 'data-testid': 'live-summary' });
    this.#chartSelect = h(
      'select',
      { 'aria-label': 'Topic to chart', 'data-testid': 'chart-topic' },
      h('option', { value: '' }, 'chart: pick a numeric topic'),
    );
    this.#chartSelect.addEventListener('change', () =>
      this.setChartTopic(this.#chartSelect.value || undefined),
    );
    this.#chart = new LineChart({
      windowMs: 30_000,
      bucketMs: 100,
      label: 'Live chart of the selected topic',
    });

    const form = h(
      'form',
      { class: 'row' },
      this.#pattern,
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'subscribe' }, 'Subscribe'),
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.subscribe(this.#pattern.value.trim());
    });

    this.element = h(
      'section',
      { class: 'panel live-panel', 'aria-labelledby': 'live-title' },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', { id: 'live-title' }, 'Live values'),
        this.#summary,
      ),
      form,
      this.#subError,
      this.#chips,
      h(
        'div',
        { class: 'table-box' },
        h(
          'table',
          { class: 'live-table', 'data-testid': 'live-table' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', {}, 'Topic'),
              h('th', {}, 'Value'),
              h('th', { class: 'num' }, 'msgs/s'),
            ),
          ),
          this.#tbody,
        ),
      ),
      h('div', { class: 'chart-head' }, this.#chartSelect),
      this.#chart.element,
    );

    setInterval(() => this.#tick(), RATE_TICK_MS);
    connection.onStatus((s) => this.#renderChips(s));
    connection.onValues((updates) => this.#onValues(updates));
    connection.onChart((points, topic) => this.#onChart(points, topic));
  }

  /** Subscribes to `pattern` (kept across reconnects and new connections). */
  async subscribe(pattern: string): Promise<void> {
    this.#subError.textContent = '';
    if (pattern === '') {
      this.#subError.textContent = 'Enter a topic pattern, e.g. press1.> or press1.*';
      return;
    }
    try {
      await this.#connection.subscribe(pattern);
    } catch (e) {
      this.#subError.textContent = `${pattern}: ${errorText(e)}`;
    }
  }

  /** Stops the subscription to `pattern`. */
  async unsubscribe(pattern: string): Promise<void> {
    try {
      await this.#connection.unsubscribe(pattern);
    } catch (e) {
      this.#subError.textContent = errorText(e);
    }
  }

  /** Charts `topic` (undefined: nothing). */
  setChartTopic(topic: string | undefined): void {
    this.#chartTopic = topic;
    this.#connection.setChartTopic(topic);
    this.#chart.reset();
    this.#chartSelect.value = topic ?? '';
    for (const s of this.#stats.values()) s.row.classList.toggle('charted', s.topic === topic);
    this.#chartDirty = true;
    this.#requestFrame();
  }

  #onValues(updates: ValueUpdate[]): void {
    for (const u of updates) {
      let s = this.#stats.get(u.topic);
      if (!s) {
        if (this.#stats.size >= MAX_TOPICS) {
          this.#overflow.add(u.topic);
          continue;
        }
        s = this.#newRow(u.topic);
        this.#stats.set(u.topic, s);
        this.#orderDirty = true;
      }
      // A new connection counts from zero again.
      if (u.count < s.count) s.countAtTick = 0;
      s.count = u.count;
      s.value = u.value;
      s.dirty = true;
      if (typeof u.value === 'number' && !s.numeric) {
        s.numeric = true;
        this.#chartSelect.append(h('option', { value: s.topic }, s.topic));
        if (this.#chartTopic === undefined) this.setChartTopic(s.topic);
      }
    }
    this.#tableDirty = true;
    this.#requestFrame();
  }

  #onChart(points: ChartPoint[], topic: string | undefined): void {
    if (topic !== this.#chartTopic) return;
    for (const p of points) this.#chart.addRange(p.time, p.min, p.max, p.last);
    this.#chartDirty = true;
    this.#requestFrame();
  }

  #newRow(topic: string): TopicStat {
    const valueCell = h('td', { class: 'value' });
    const rateCell = h('td', { class: 'num' });
    const row = h(
      'tr',
      { 'data-topic': topic, title: 'Click to chart this topic' },
      h('td', { class: 'topic' }, topic),
      valueCell,
      rateCell,
    );
    row.addEventListener('click', () => {
      if (this.#stats.get(topic)?.numeric) this.setChartTopic(topic);
    });
    return {
      topic,
      value: null,
      count: 0,
      countAtTick: 0,
      rate: 0,
      numeric: false,
      dirty: true,
      row,
      valueCell,
      rateCell,
    };
  }

  #tick(): void {
    const now = performance.now();
    const dt = (now - this.#lastTick) / 1000;
    this.#lastTick = now;
    if (dt <= 0) return;
    let total = 0;
    for (const s of this.#stats.values()) {
      const rate = (s.count - s.countAtTick) / dt;
      s.countAtTick = s.count;
      total += rate;
      if (rate !== s.rate) {
        s.rate = rate;
        s.dirty = true;
        this.#tableDirty = true;
      }
    }
    const over = this.#overflow.size > 0 ? ` · ${this.#overflow.size} more topics not shown` : '';
    this.#summary.textContent = `${this.#stats.size} topics · ${formatRate(total)} msgs/s${over}`;
    // Keep the chart's time axis moving even when no value arrives.
    this.#chartDirty = this.#chartTopic !== undefined;
    this.#requestFrame();
  }

  #requestFrame(): void {
    if (this.#frameRequested) return;
    this.#frameRequested = true;
    requestAnimationFrame((t) => this.#frame(t));
  }

  #frame(now: number): void {
    this.#frameRequested = false;
    if (this.#chartDirty) {
      this.#chartDirty = false;
      this.#chart.draw();
    }
    if (!this.#tableDirty) return;
    if (now - this.#lastTable < TABLE_INTERVAL_MS) {
      this.#requestFrame();
      return;
    }
    this.#lastTable = now;
    this.#tableDirty = false;
    if (this.#orderDirty) {
      this.#orderDirty = false;
      const rows = [...this.#stats.values()]
        .sort((a, b) => a.topic.localeCompare(b.topic))
        .map((s) => s.row);
      this.#tbody.replaceChildren(...rows);
    }
    for (const s of this.#stats.values()) {
      if (!s.dirty) continue;
      s.dirty = false;
      const text = previewJson(s.value, 80);
      if (s.valueCell.textContent !== text) s.valueCell.textContent = text;
      const rate = formatRate(s.rate);
      if (s.rateCell.textContent !== rate) s.rateCell.textContent = rate;
    }
  }

  #renderChips(status: ConnectionStatus): void {
    const key = JSON.stringify(status.subscriptions);
    if (key === this.#chipsKey) return;
    this.#chipsKey = key;
    if (status.subscriptions.length === 0) {
      this.#chips.replaceChildren(h('span', { class: 'muted small' }, 'No subscriptions.'));
      return;
    }
    this.#chips.replaceChildren(
      ...status.subscriptions.map(({ pattern, active }) =>
        h(
          'span',
          {
            class: `chip${active ? ' active' : ''}`,
            'data-pattern': pattern,
            title: active ? 'subscribed' : 'waiting for the connection',
          },
          pattern,
          h(
            'button',
            {
              type: 'button',
              class: 'chip-x',
              'aria-label': `Unsubscribe ${pattern}`,
              onclick: () => void this.unsubscribe(pattern),
            },
            '×',
          ),
        ),
      ),
    );
  }
}
