/**
 * Modules: the live list of registered modules (`system.get_domains`), refreshed every few
 * seconds and on (re)connect; joins and leaves are marked. Clicking a module loads its catalog
 * (`<domain>.get_catalog`); clicking a catalog topic puts it in the request panel.
 */
import { errorText, formatClock, h } from '../dom.ts';
import type { Connection } from '../connection.ts';
import type { TopicList } from '../topic-list.ts';

/** One entry of `system.get_domains`. */
export interface DomainInfo {
  name: string;
  version: string;
  capabilities: string[];
}

/** How often the list is refreshed while connected. */
export const MODULES_POLL_MS = 3000;

function parseDomains(data: unknown): DomainInfo[] {
  if (!Array.isArray(data)) return [];
  const out: DomainInfo[] = [];
  for (const d of data) {
    if (typeof d !== 'object' || d === null) continue;
    const o = d as Record<string, unknown>;
    if (typeof o.name !== 'string') continue;
    out.push({
      name: o.name,
      version: typeof o.version === 'string' ? o.version : '',
      capabilities: Array.isArray(o.capabilities)
        ? o.capabilities.filter((c): c is string => typeof c === 'string')
        : [],
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export class ModulesPanel {
  readonly element: HTMLElement;
  /** Called with a topic the user picked from a catalog. */
  onPick: ((topic: string) => void) | undefined;
  readonly #connection: Connection;
  readonly #topics: TopicList;
  readonly #list: HTMLUListElement;
  readonly #count: HTMLElement;
  readonly #events: HTMLElement;
  readonly #catalogTitle: HTMLElement;
  readonly #catalog: HTMLUListElement;
  #known = new Map<string, DomainInfo>();
  #selected: string | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #inflight = false;
  #first = true;

  constructor(connection: Connection, topics: TopicList) {
    this.#connection = connection;
    this.#topics = topics;
    this.#list = h('ul', {
      class: 'modules',
      'data-testid': 'modules',
      'aria-label': 'Registered modules',
    });
    this.#count = h('span', { class: 'muted' });
    this.#events = h('div', { class: 'module-events muted', 'aria-live': 'polite' });
    this.#catalogTitle = h('h3', {}, 'Catalog');
    this.#catalog = h('ul', { class: 'catalog', 'data-testid': 'catalog' });
    this.element = h(
      'section',
      { class: 'panel modules-panel', 'aria-labelledby': 'modules-title' },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', { id: 'modules-title' }, 'Modules ', this.#count),
        h(
          'button',
          { type: 'button', class: 'ghost small', onclick: () => void this.refresh() },
          'Refresh',
        ),
      ),
      this.#list,
      this.#events,
      h('div', { class: 'catalog-box' }, this.#catalogTitle, this.#catalog),
    );
    this.#catalog.append(h('li', { class: 'muted' }, 'Click a module to see its catalog.'));
    connection.onStatus((s) => {
      const connected = s.phase === 'connected';
      if (connected) this.#start();
      else this.#stop();
      // While not connected the list is only the last one known: say so.
      this.#list.classList.toggle('stale', !connected && this.#known.size > 0);
      this.#list.title = connected ? '' : 'Last known list (not connected)';
    });
  }

  #start(): void {
    if (this.#timer !== undefined) return;
    void this.refresh();
    this.#timer = setInterval(() => void this.refresh(), MODULES_POLL_MS);
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Asks the server for the modules now. */
  async refresh(): Promise<void> {
    if (!this.#connection.ready || this.#inflight) return;
    this.#inflight = true;
    try {
      const reply = await this.#connection.call('request', 'system.get_domains', null, 5000);
      if (!reply.success) {
        this.#events.textContent = `system.get_domains failed: ${reply.errorMessage}`;
        return;
      }
      this.#update(parseDomains(reply.data));
      const catalog = await this.#connection.call('request', 'system.get_catalog', null, 5000);
      if (catalog.success && Array.isArray(catalog.data))
        this.#topics.add(catalog.data as string[]);
    } catch (e) {
      this.#events.textContent = errorText(e);
    } finally {
      this.#inflight = false;
    }
  }

  #update(domains: DomainInfo[]): void {
    const next = new Map(domains.map((d) => [d.name, d]));
    if (!this.#first) {
      const joined = domains.filter((d) => !this.#known.has(d.name)).map((d) => d.name);
      const left = [...this.#known.keys()].filter((n) => !next.has(n));
      const parts = [...joined.map((n) => `${n} joined`), ...left.map((n) => `${n} left`)];
      if (parts.length > 0)
        this.#events.textContent = `${formatClock(Date.now())} ${parts.join(', ')}`;
    }
    this.#first = false;
    const fresh = new Set(domains.filter((d) => !this.#known.has(d.name)).map((d) => d.name));
    this.#known = next;
    const own = this.#connection.status.name;
    this.#count.textContent = `(${domains.length})`;
    this.#list.replaceChildren(
      ...domains.map((d) =>
        h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              class: `module${d.name === this.#selected ? ' selected' : ''}${fresh.has(d.name) ? ' fresh' : ''}`,
              'data-module': d.name,
              'aria-pressed': d.name === this.#selected ? 'true' : 'false',
              onclick: () => void this.select(d.name),
            },
            h('span', { class: 'module-name' }, d.name),
            d.name === own ? h('span', { class: 'tag' }, 'this tab') : null,
            h(
              'span',
              { class: 'muted small' },
              `${d.version || 'no version'} · ${d.capabilities.length} topics`,
            ),
          ),
        ),
      ),
    );
    for (const d of domains) this.#topics.add(d.capabilities);
    if (this.#selected !== undefined && !next.has(this.#selected)) {
      this.#catalogTitle.textContent = `Catalog of ${this.#selected} (left)`;
    }
  }

  /** Loads and shows the catalog of `name`. */
  async select(name: string): Promise<void> {
    this.#selected = name;
    for (const b of this.#list.querySelectorAll<HTMLButtonElement>('button.module')) {
      const on = b.dataset.module === name;
      b.classList.toggle('selected', on);
      b.setAttribute('aria-pressed', on ? 'true' : 'false');
    }
    this.#catalogTitle.textContent = `Catalog of ${name}`;
    this.#catalog.replaceChildren(h('li', { class: 'muted' }, 'loading…'));
    try {
      const reply = await this.#connection.call('request', `${name}.get_catalog`, null, 5000);
      if (this.#selected !== name) return;
      if (!reply.success) {
        this.#catalog.replaceChildren(
          h('li', { class: 'error' }, reply.errorMessage || 'request failed'),
        );
        return;
      }
      const topics = Array.isArray(reply.data)
        ? reply.data.filter((t): t is string => typeof t === 'string')
        : [];
      this.#topics.add(topics);
      this.#catalog.replaceChildren(
        ...(topics.length === 0
          ? [h('li', { class: 'muted' }, 'empty catalog')]
          : topics.map((t) =>
              h(
                'li',
                {},
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'link',
                    'data-topic': t,
                    onclick: () => this.onPick?.(t),
                  },
                  t,
                ),
              ),
            )),
      );
    } catch (e) {
      if (this.#selected === name)
        this.#catalog.replaceChildren(h('li', { class: 'error' }, errorText(e)));
    }
  }
}
