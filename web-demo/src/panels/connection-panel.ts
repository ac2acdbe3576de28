/**
 * The header: connection state (connecting, connected, reconnecting with the attempt count,
 * closed), the tab's module name, last error, and the connect form (URL, token, name).
 */
import { nameAllowed, rememberSettings, type ConnectSettings } from '../config.ts';
import { formatClock, h } from '../dom.ts';
import type { Connection } from '../connection.ts';
import type { ConnectionStatus } from '../protocol.ts';

const LABELS: Record<ConnectionStatus['phase'], string> = {
  idle: 'not connected',
  connecting: 'connecting',
  connected: 'connected',
  reconnecting: 'reconnecting',
  closed: 'closed',
};

export class ConnectionPanel {
  readonly element: HTMLElement;
  readonly #connection: Connection;
  readonly #badge: HTMLElement;
  readonly #name: HTMLElement;
  readonly #served: HTMLElement;
  readonly #url: HTMLElement;
  readonly #error: HTMLElement;
  readonly #toggle: HTMLButtonElement;
  readonly #form: HTMLFormElement;
  readonly #formError: HTMLElement;
  readonly #inputs: { url: HTMLInputElement; token: HTMLInputElement; name: HTMLInputElement };
  #namePatterns: readonly string[];

  constructor(connection: Connection, defaults: ConnectSettings, namePatterns: readonly string[]) {
    this.#connection = connection;
    this.#namePatterns = namePatterns;
    this.#badge = h('span', {
      class: 'badge',
      'data-testid': 'conn-state',
      role: 'status',
      'aria-live': 'polite',
    });
    this.#name = h('code', { 'data-testid': 'module-name' });
    this.#served = h('span', { class: 'muted', 'data-testid': 'served' });
    this.#url = h('span', { class: 'muted url' });
    this.#error = h('div', { class: 'last-error', 'data-testid': 'last-error', hidden: true });
    this.#toggle = h(
      'button',
      { type: 'button', 'data-testid': 'conn-toggle', onclick: () => void this.#onToggle() },
      'Disconnect',
    );
    const settingsButton = h(
      'button',
      {
        type: 'button',
        class: 'ghost',
        'aria-controls': 'connect-form',
        onclick: () => this.showForm(this.#form.hidden),
      },
      'Settings',
    );

    this.#inputs = {
      url: h('input', {
        name: 'url',
        type: 'url',
        required: true,
        placeholder: 'ws://127.0.0.1:9101',
        value: defaults.url,
        autocomplete: 'off',
      }),
      token: h('input', {
        name: 'token',
        type: 'password',
        placeholder: 'bridge token',
        value: defaults.token,
        autocomplete: 'off',
      }),
      name: h('input', {
        name: 'name',
        required: true,
        pattern: '[A-Za-z0-9_\\-]{1,64}',
        value: defaults.name,
        autocomplete: 'off',
      }),
    };
    this.#formError = h('div', { class: 'form-error', role: 'alert' });
    this.#form = h(
      'form',
      { id: 'connect-form', class: 'connect-form', 'data-testid': 'connect-form', hidden: true },
      h('label', {}, 'Bridge URL', this.#inputs.url),
      h('label', {}, 'Token', this.#inputs.token),
      h('label', {}, 'Module name', this.#inputs.name),
      h('button', { type: 'submit', class: 'primary' }, 'Connect'),
      this.#formError,
    );
    this.#form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.#submit();
    });

    this.element = h(
      'header',
      { class: 'topbar' },
      h('h1', {}, 'autocore-ipc ', h('span', { class: 'muted' }, 'console')),
      h(
        'div',
        { class: 'conn' },
        this.#badge,
        h('span', {}, 'as ', this.#name),
        this.#served,
        this.#url,
      ),
      h('div', { class: 'conn-actions' }, this.#toggle, settingsButton),
      this.#error,
      this.#form,
    );
    connection.onStatus((s) => this.#render(s));
  }

  /** Shows (or hides) the connect form, e.g. when there is no config.json. */
  showForm(show = true): void {
    this.#form.hidden = !show;
    if (show) this.#inputs.url.focus();
  }

  /** Sets the name globs the form checks against. */
  setNamePatterns(patterns: readonly string[]): void {
    this.#namePatterns = patterns;
  }

  #submit(): void {
    const settings: ConnectSettings = {
      url: this.#inputs.url.value.trim(),
      token: this.#inputs.token.value,
      name: this.#inputs.name.value.trim(),
    };
    if (!/^wss?:\/\/./.test(settings.url)) {
      this.#formError.textContent = 'The URL must start with ws:// or wss://';
      return;
    }
    if (!nameAllowed(settings.name, this.#namePatterns.length > 0 ? this.#namePatterns : ['*'])) {
      this.#formError.textContent = `The name must be 1-64 of A-Z a-z 0-9 _ - and match ${this.#namePatterns.join(', ')}`;
      return;
    }
    this.#formError.textContent = '';
    rememberSettings(settings);
    this.#form.hidden = true;
    void this.#connection.connect(settings);
  }

  async #onToggle(): Promise<void> {
    const s = this.#connection.status;
    if (s.phase === 'closed' || s.phase === 'idle') {
      const settings = this.#connection.settings;
      if (settings) await this.#connection.connect(settings);
      else this.showForm(true);
    } else {
      await this.#connection.disconnect();
    }
  }

  #render(s: ConnectionStatus): void {
    let label = LABELS[s.phase];
    if ((s.phase === 'connecting' || s.phase === 'reconnecting') && s.attempt > 0) {
      label += ` (attempt ${s.attempt}${s.delayMs !== undefined ? `, after ${(s.delayMs / 1000).toFixed(1)} s` : ''})`;
    }
    this.#badge.textContent = label;
    this.#badge.dataset.state = s.phase;
    this.#name.textContent = s.name ?? '-';
    this.#served.textContent = s.served > 0 ? `served ${s.served}` : '';
    this.#url.textContent = s.url ?? '';
    this.#toggle.textContent =
      s.phase === 'closed' || s.phase === 'idle' ? 'Connect' : 'Disconnect';
    if (s.lastError) {
      this.#error.hidden = false;
      this.#error.textContent = `Last error${s.lastErrorAt ? ` at ${formatClock(s.lastErrorAt)}` : ''}: ${s.lastError}`;
    } else {
      this.#error.hidden = true;
      this.#error.textContent = '';
    }
    if (s.url !== undefined && s.name !== undefined && this.#form.hidden) {
      this.#inputs.url.value = s.url;
      this.#inputs.name.value = s.name;
    }
  }
}
