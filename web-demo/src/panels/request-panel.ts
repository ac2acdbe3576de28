/**
 * Request: a topic (with completion from the catalogs), a JSON editor validated as you type, and
 * the Response (success, data or error, round-trip time). Every call goes into a history; click
 * an entry to load it again.
 */
import { errorText, formatClock, h, prettyJson, previewJson } from '../dom.ts';
import type { Connection } from '../connection.ts';
import type { TopicList } from '../topic-list.ts';

type Kind = 'request' | 'read' | 'write' | 'broadcast';

interface HistoryEntry {
  kind: Kind;
  topic: string;
  body: string;
  ok: boolean;
  rttMs: number;
  at: number;
}

const HISTORY_KEY = 'autocore-console.history';
const HISTORY_MAX = 50;

/** Parses the editor's text; empty text is `null`. */
export function parseBody(
  text: string,
): { ok: true; value: unknown } | { ok: false; error: string } {
  if (text.trim() === '') return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // Point at the line and column as well as the raw position V8 gives.
    const m = /position (\d+)/.exec(message);
    if (m) {
      const pos = Number(m[1]);
      const before = text.slice(0, pos);
      const line = before.split('\n').length;
      const col = pos - before.lastIndexOf('\n');
      return { ok: false, error: `Invalid JSON at line ${line}, column ${col}: ${message}` };
    }
    return { ok: false, error: `Invalid JSON: ${message}` };
  }
}

export class RequestPanel {
  readonly element: HTMLElement;
  readonly #connection: Connection;
  readonly #topics: TopicList;
  readonly #kind: HTMLSelectElement;
  readonly #topic: HTMLInputElement;
  readonly #body: HTMLTextAreaElement;
  readonly #jsonError: HTMLElement;
  readonly #send: HTMLButtonElement;
  readonly #response: HTMLElement;
  readonly #history: HTMLUListElement;
  #entries: HistoryEntry[] = [];
  #busy = false;

  constructor(connection: Connection, topics: TopicList) {
    this.#connection = connection;
    this.#topics = topics;
    this.#kind = h(
      'select',
      { 'aria-label': 'Message kind', 'data-testid': 'request-kind' },
      h('option', { value: 'request' }, 'Request'),
      h('option', { value: 'read' }, 'Read'),
      h('option', { value: 'write' }, 'Write'),
      h('option', { value: 'broadcast' }, 'Broadcast'),
    );
    this.#topic = h('input', {
      'aria-label': 'Topic',
      'data-testid': 'request-topic',
      list: topics.id,
      placeholder: 'domain.command, e.g. press1.status',
      spellcheck: 'false',
      autocomplete: 'off',
    });
    this.#body = h('textarea', {
      'aria-label': 'JSON data',
      'data-testid': 'request-body',
      rows: 4,
      spellcheck: 'false',
      placeholder: '{"rpm": 1200}   (empty = null)',
    });
    this.#jsonError = h('div', { class: 'json-error', 'data-testid': 'json-error', role: 'alert' });
    this.#send = h('button', { type: 'submit', class: 'primary', 'data-testid': 'send' }, 'Send');
    this.#response = h(
      'div',
      { class: 'response', 'data-testid': 'response', 'aria-live': 'polite' },
      h('span', { class: 'muted' }, 'No request sent yet.'),
    );
    this.#history = h('ul', {
      class: 'history',
      'data-testid': 'history',
      'aria-label': 'Request history',
    });

    const form = h(
      'form',
      { class: 'request-form' },
      h('div', { class: 'row' }, this.#kind, this.#topic),
      this.#body,
      this.#jsonError,
      h(
        'div',
        { class: 'row' },
        this.#send,
        h('button', { type: 'button', class: 'ghost', onclick: () => this.#format() }, 'Format'),
        h('span', { class: 'muted small hint' }, 'Ctrl+Enter sends'),
      ),
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.send();
    });
    this.#body.addEventListener('input', () => this.#validate());
    this.#body.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        void this.send();
      }
    });

    this.element = h(
      'section',
      { class: 'panel request-panel', 'aria-labelledby': 'request-title' },
      h('div', { class: 'panel-head' }, h('h2', { id: 'request-title' }, 'Request')),
      form,
      h('h3', {}, 'Response'),
      this.#response,
      h('h3', {}, 'History'),
      this.#history,
    );
    this.#loadHistory();
    connection.onStatus(() => this.#validate());
  }

  /** Puts a topic in the topic field (from a catalog click). */
  useTopic(topic: string): void {
    this.#topic.value = topic;
    this.#kind.value = 'request';
    this.#body.focus();
  }

  /** Fills the form. */
  fill(kind: Kind, topic: string, body: string): void {
    this.#kind.value = kind;
    this.#topic.value = topic;
    this.#body.value = body;
    this.#validate();
  }

  #validate(): boolean {
    const parsed = parseBody(this.#body.value);
    this.#jsonError.textContent = parsed.ok ? '' : parsed.error;
    this.#body.setAttribute('aria-invalid', parsed.ok ? 'false' : 'true');
    this.#send.disabled = !parsed.ok || this.#busy || !this.#connection.ready;
    return parsed.ok;
  }

  #format(): void {
    const parsed = parseBody(this.#body.value);
    if (parsed.ok && this.#body.value.trim() !== '')
      this.#body.value = JSON.stringify(parsed.value, null, 2);
    this.#validate();
  }

  /** Sends what the form holds. */
  async send(): Promise<void> {
    const parsed = parseBody(this.#body.value);
    if (!parsed.ok) {
      this.#validate();
      this.#body.focus();
      return;
    }
    const topic = this.#topic.value.trim();
    if (topic === '') {
      this.#jsonError.textContent = 'Enter a topic.';
      this.#topic.focus();
      return;
    }
    if (!this.#connection.ready || this.#busy) return;
    const kind = this.#kind.value as Kind;
    this.#busy = true;
    this.#validate();
    this.#showPending(kind, topic);
    const started = performance.now();
    let ok = false;
    try {
      if (kind === 'broadcast') {
        await this.#connection.broadcast(topic, parsed.value);
        ok = true;
        this.#showSent(topic);
      } else {
        const reply = await this.#connection.call(kind, topic, parsed.value, 10_000);
        ok = reply.success;
        this.#showReply(
          reply.success,
          reply.data,
          reply.errorMessage,
          reply.transactionId,
          reply.rttMs,
        );
      }
    } catch (e) {
      this.#showLocalError(errorText(e), performance.now() - started);
    } finally {
      this.#busy = false;
      this.#validate();
    }
    this.#topics.add([topic]);
    this.#remember({
      kind,
      topic,
      body: this.#body.value,
      ok,
      rttMs: performance.now() - started,
      at: Date.now(),
    });
  }

  #showPending(kind: Kind, topic: string): void {
    this.#response.dataset.outcome = 'pending';
    this.#response.replaceChildren(h('span', { class: 'muted' }, `${kind} ${topic}…`));
  }

  #showSent(topic: string): void {
    this.#response.dataset.outcome = 'success';
    this.#response.replaceChildren(
      h('div', { class: 'outcome ok' }, '✓ broadcast sent'),
      h(
        'div',
        { class: 'muted small' },
        `${topic}: no reply expected (the bridge drops broadcasts outside the token's permissions)`,
      ),
    );
  }

  #showReply(
    success: boolean,
    data: unknown,
    errorMessage: string,
    txid: number,
    rttMs: number,
  ): void {
    this.#response.dataset.outcome = success ? 'success' : 'failure';
    const parts: Node[] = [
      h(
        'div',
        { class: `outcome ${success ? 'ok' : 'bad'}` },
        success ? '✓ success' : '✗ failed',
        h(
          'span',
          { class: 'muted small', 'data-testid': 'rtt' },
          ` ${rttMs.toFixed(1)} ms · tx ${txid}`,
        ),
      ),
    ];
    if (!success)
      parts.push(
        h(
          'div',
          { class: 'error', 'data-testid': 'response-error' },
          errorMessage || '(no error message)',
        ),
      );
    if (success || data !== null)
      parts.push(h('pre', { class: 'data', 'data-testid': 'response-data' }, prettyJson(data)));
    this.#response.replaceChildren(...parts);
  }

  #showLocalError(text: string, rttMs: number): void {
    this.#response.dataset.outcome = 'error';
    this.#response.replaceChildren(
      h(
        'div',
        { class: 'outcome bad' },
        '✗ not answered',
        h('span', { class: 'muted small' }, ` ${rttMs.toFixed(1)} ms`),
      ),
      h('div', { class: 'error', 'data-testid': 'response-error' }, text),
    );
  }

  #remember(entry: HistoryEntry): void {
    this.#entries = [
      entry,
      ...this.#entries.filter(
        (e) => !(e.kind === entry.kind && e.topic === entry.topic && e.body === entry.body),
      ),
    ].slice(0, HISTORY_MAX);
    try {
      localStorage.setItem(HISTORY_KEY, JSON.stringify(this.#entries));
    } catch {
      // No storage: the history lasts as long as the page.
    }
    this.#renderHistory();
  }

  #loadHistory(): void {
    try {
      const raw = localStorage.getItem(HISTORY_KEY);
      const list: unknown = raw ? JSON.parse(raw) : [];
      if (Array.isArray(list)) {
        this.#entries = list
          .filter(
            (e): e is HistoryEntry =>
              typeof e === 'object' && e !== null && typeof (e as HistoryEntry).topic === 'string',
          )
          .slice(0, HISTORY_MAX);
      }
    } catch {
      this.#entries = [];
    }
    this.#topics.add(this.#entries.map((e) => e.topic));
    this.#renderHistory();
  }

  #renderHistory(): void {
    if (this.#entries.length === 0) {
      this.#history.replaceChildren(h('li', { class: 'muted' }, 'Sent requests appear here.'));
      return;
    }
    this.#history.replaceChildren(
      ...this.#entries.map((e) =>
        h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              class: 'history-item',
              title: 'Load into the editor',
              onclick: () => this.fill(e.kind, e.topic, e.body),
            },
            h('span', { class: e.ok ? 'ok' : 'bad' }, e.ok ? '✓' : '✗'),
            h(
              'span',
              { class: 'history-topic' },
              e.kind === 'request' ? e.topic : `${e.kind} ${e.topic}`,
            ),
            h(
              'span',
              { class: 'muted history-body' },
              e.body.trim() === ''
                ? ''
                : previewJson(parseBody(e.body).ok ? JSON.parse(e.body) : e.body, 60),
            ),
            h(
              'span',
              { class: 'muted small' },
              `${Math.round(e.rttMs)} ms · ${formatClock(e.at).slice(0, 8)}`,
            ),
          ),
        ),
      ),
    );
  }
}
