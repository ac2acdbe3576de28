/**
 * A virtualized list: a scrolling viewport over `count` rows of fixed height that keeps only
 * the visible rows (plus a few) in the DOM, reusing a small pool of row elements. Rendering
 * thousands of rows costs the same as rendering thirty.
 */
import { h } from './dom.ts';

/** Options of {@link VirtualList}. */
export interface VirtualListOptions {
  /** Row height in CSS pixels (every row has it). */
  rowHeight: number;
  /** Makes an empty row element (its children are then filled by `renderRow`). */
  createRow(): HTMLElement;
  /**
   * Fills `row` for the item at `index` (0 = first). Called only when the row shows a different
   * item than before, or when `render(true)` forces it.
   */
  renderRow(row: HTMLElement, index: number): void;
  /** Extra rows rendered above and below the visible ones. Default 4. */
  overscan?: number;
  /** Accessible label of the list. */
  label?: string;
}

/**
 * @example
 * ```ts
 * const list = new VirtualList({ rowHeight: 20, createRow, renderRow });
 * container.append(list.element);
 * list.setCount(entries.length);
 * list.render();
 * ```
 */
export class VirtualList {
  /** The scrolling viewport: put it in the page. */
  readonly element: HTMLDivElement;
  /** Keep the newest row in view as rows are added (turned off by scrolling up). */
  follow = true;
  /** Called when `follow` changes because the user scrolled. */
  onFollowChange: ((follow: boolean) => void) | undefined;
  readonly #o: Required<Pick<VirtualListOptions, 'rowHeight' | 'overscan'>> & VirtualListOptions;
  readonly #spacer: HTMLDivElement;
  /** Holds the rendered rows; translated to the first one's position. */
  readonly #window: HTMLDivElement;
  #windowFirst = -1;
  #spacerHeight = -1;
  readonly #pool: HTMLElement[] = [];
  /** The item index each pooled row shows (-1: none yet, or forgotten by invalidate). */
  readonly #shown: number[] = [];
  /** Whether each pooled row is displayed. */
  readonly #visible: boolean[] = [];
  #count = 0;
  #viewportHeight = 0;
  #lastScrollTop = 0;
  #programmaticScroll = false;

  constructor(options: VirtualListOptions) {
    this.#o = { overscan: 4, ...options };
    this.#spacer = h('div', { class: 'vlist-spacer' });
    this.#window = h('div', { class: 'vlist-window' });
    this.element = h(
      'div',
      { class: 'vlist', role: 'list', tabindex: 0, 'aria-label': options.label },
      this.#spacer,
      this.#window,
    );
    this.element.addEventListener('scroll', () => this.#onScroll(), { passive: true });
    new ResizeObserver(() => {
      this.#viewportHeight = this.element.clientHeight;
      this.render();
    }).observe(this.element);
  }

  /** Number of items. */
  get count(): number {
    return this.#count;
  }

  /** Sets the number of items (call `render` afterwards). */
  setCount(count: number): void {
    this.#count = count;
  }

  /** The item index of the first visible row. */
  get firstVisibleIndex(): number {
    return Math.floor(this.#lastScrollTop / this.#o.rowHeight);
  }

  /**
   * Shifts the scroll position by `rows` (negative = up) without rendering, e.g. when items were
   * dropped from the start, so what the user looks at stays in place.
   */
  shift(rows: number): void {
    if (rows === 0 || this.follow) return;
    this.#lastScrollTop = Math.max(0, this.#lastScrollTop + rows * this.#o.rowHeight);
    this.#programmaticScroll = true;
    this.element.scrollTop = this.#lastScrollTop;
  }

  /** Scrolls to the last row and follows new rows again. */
  scrollToEnd(): void {
    this.#setFollow(true);
    this.render();
  }

  /** Brings the rows in view up to date; `force` re-renders rows that show the same index. */
  render(force = false): void {
    const { rowHeight, overscan } = this.#o;
    const total = this.#count * rowHeight;
    if (total !== this.#spacerHeight) {
      this.#spacerHeight = total;
      this.#spacer.style.height = `${total}px`;
    }
    const height = this.#viewportHeight || this.element.clientHeight;
    const bottom = Math.max(0, total - height);
    if (this.follow) {
      // Writing scrollTop forces a layout: only when it really moves (not once the list is full).
      if (Math.abs(this.#lastScrollTop - bottom) >= 1) {
        this.#lastScrollTop = bottom;
        this.#programmaticScroll = true;
        this.element.scrollTop = bottom;
      }
    } else if (this.#lastScrollTop > bottom) {
      this.#lastScrollTop = bottom;
    }
    const first = Math.max(0, Math.floor(this.#lastScrollTop / rowHeight) - overscan);
    const last = Math.min(
      this.#count,
      Math.ceil((this.#lastScrollTop + height) / rowHeight) + overscan,
    );
    const needed = Math.max(0, last - first);
    while (this.#pool.length < needed) {
      const row = this.#o.createRow();
      row.classList.add('vlist-row');
      row.setAttribute('role', 'listitem');
      row.style.height = `${rowHeight}px`;
      this.#pool.push(row);
      this.#shown.push(-1);
      this.#visible.push(true);
      this.#window.appendChild(row);
    }
    // Rows stay in document order inside one translated window, so a frame moves one box
    // and rewrites only the rows whose item changed.
    if (first !== this.#windowFirst) {
      this.#windowFirst = first;
      this.#window.style.transform = `translateY(${first * rowHeight}px)`;
    }
    for (let k = 0; k < this.#pool.length; k++) {
      const row = this.#pool[k] as HTMLElement;
      const index = first + k;
      const visible = index < last;
      if (visible !== this.#visible[k]) {
        row.style.display = visible ? '' : 'none';
        this.#visible[k] = visible;
      }
      if (!visible) continue;
      if (force || this.#shown[k] !== index) {
        this.#o.renderRow(row, index);
        this.#shown[k] = index;
      }
    }
  }

  /** Forgets what each row showed (the items were replaced): the next render redraws every row. */
  invalidate(): void {
    this.#shown.fill(-1);
  }

  #setFollow(follow: boolean): void {
    if (this.follow === follow) return;
    this.follow = follow;
    this.onFollowChange?.(follow);
  }

  #onScroll(): void {
    const top = this.element.scrollTop;
    if (this.#programmaticScroll) {
      this.#programmaticScroll = false;
      if (Math.abs(top - this.#lastScrollTop) < 1) return;
    }
    this.#lastScrollTop = top;
    const bottom =
      this.#count * this.#o.rowHeight - (this.#viewportHeight || this.element.clientHeight);
    this.#setFollow(top >= bottom - this.#o.rowHeight / 2);
    this.render();
  }
}
