/**
 * Known topics for completion: a `<datalist>` fed from the catalogs (`system.get_catalog`,
 * `<domain>.get_catalog`) and from the request history.
 */
import { h, perFrame } from './dom.ts';

export class TopicList {
  /** Put it anywhere in the page; inputs refer to it with `list="<id>"`. */
  readonly element: HTMLDataListElement;
  readonly id: string;
  readonly #topics = new Set<string>();
  readonly #render = perFrame(() => this.#draw());

  constructor(id = 'topic-list') {
    this.id = id;
    this.element = h('datalist', { id });
  }

  /** Every known topic, sorted. */
  get topics(): string[] {
    return [...this.#topics].sort();
  }

  /** Adds topics (wildcard patterns are skipped: they cannot be requested). */
  add(topics: Iterable<string>): void {
    let changed = false;
    for (const t of topics) {
      if (typeof t !== 'string' || t === '' || /(^|\.)([*>]|\{[^}]*\})(\.|$)/.test(t)) continue;
      if (!this.#topics.has(t)) {
        this.#topics.add(t);
        changed = true;
      }
    }
    if (changed) this.#render();
  }

  #draw(): void {
    this.element.replaceChildren(...this.topics.map((t) => h('option', { value: t })));
  }
}
