/**
 * End to end: the built web console in a real Chromium, connected through the bridge to a real
 * IpcServer with the sample press module. It connects by itself from /config.json, lists the
 * modules, sends requests, subscribes, registers the tab as a module a Node client can call, lays
 * out at desktop and phone sizes, and keeps rendering while 5,000 messages a second flow in.
 * Screenshots go to test-artifacts/.
 */
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { BaseModuleHandler } from 'autocore-ipc/node';
import { chromium, type Browser, type Page } from 'playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBridge } from '../../bridge/index.ts';
import { buildConsole, removeBuild, startConsoleBed, type ConsoleBed } from './console-bed.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let dist = '';
let bed: ConsoleBed;
let browser: Browser;
let page: Page;
/** Console errors and uncaught page errors, with the time they happened. */
const pageErrors: { at: number; text: string }[] = [];
let tabName = '';

const state = (p: Page): Promise<string | null> =>
  p.locator('[data-testid=conn-state]').getAttribute('data-state');

async function sendRequest(p: Page, topic: string, body: string): Promise<void> {
  await p.fill('[data-testid=request-topic]', topic);
  await p.fill('[data-testid=request-body]', body);
  await p.click('[data-testid=send]');
}

async function subscribe(p: Page, pattern: string): Promise<void> {
  await p.fill('[data-testid=subscribe-pattern]', pattern);
  await p.click('[data-testid=subscribe]');
  await p.waitForSelector(`[data-testid=subscriptions] .chip.active[data-pattern="${pattern}"]`);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  dist = await buildConsole();
  bed = await startConsoleBed(dist);
  browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push({ at: Date.now(), text: m.text() });
  });
  page.on('pageerror', (e) => pageErrors.push({ at: Date.now(), text: `${e.name}: ${e.message}` }));
}, 120_000);

afterAll(async () => {
  // The browser first: its tab is a module and would otherwise try to reconnect.
  await browser?.close();
  await bed?.dispose();
  if (dist) await removeBuild(dist);
});

describe('web console', () => {
  it('connects by itself from /config.json and shows it', async () => {
    await page.goto(bed.origin);
    await page.waitForSelector('[data-testid=conn-state][data-state=connected]', {
      timeout: 15_000,
    });
    expect(await page.locator('[data-testid=conn-state]').textContent()).toContain('connected');
    tabName = (await page.locator('[data-testid=module-name]').textContent()) ?? '';
    expect(tabName).toMatch(/^console_[a-z0-9]{4}$/);
    expect(await page.locator('[data-testid=connect-form]').isHidden()).toBe(true);
  });

  it('lists press1 and the tab itself in Modules, and shows a catalog on click', async () => {
    await page.waitForSelector('[data-testid=modules] [data-module=press1]');
    const own = page.locator(`[data-testid=modules] [data-module="${tabName}"]`);
    await own.waitFor();
    expect(await own.textContent()).toContain('this tab');
    await page.click('[data-testid=modules] [data-module=press1]');
    await page.waitForSelector('[data-testid=catalog] [data-topic="press1.set_speed"]');
    // A catalog click puts the topic in the request panel.
    await page.click('[data-testid=catalog] [data-topic="press1.status"]');
    expect(await page.inputValue('[data-testid=request-topic]')).toBe('press1.status');
  });

  it('validates JSON before sending', async () => {
    await page.fill('[data-testid=request-topic]', 'press1.set_speed');
    await page.fill('[data-testid=request-body]', '{"rpm": 12');
    await expect
      .poll(() => page.locator('[data-testid=json-error]').textContent())
      .toMatch(/Invalid JSON/);
    expect(await page.locator('[data-testid=send]').isDisabled()).toBe(true);
    await page.fill('[data-testid=request-body]', '{"rpm": 1200}');
    await expect.poll(() => page.locator('[data-testid=json-error]').textContent()).toBe('');
    expect(await page.locator('[data-testid=send]').isEnabled()).toBe(true);
  });

  it('sends press1.set_speed and shows the success, then the validation error', async () => {
    await sendRequest(page, 'press1.start', '');
    await page.waitForSelector('[data-testid=response][data-outcome=success]');
    await sendRequest(page, 'press1.set_speed', '{"rpm":1200}');
    await page.waitForSelector('[data-testid=response][data-outcome=success]');
    expect(await page.locator('[data-testid=response-data]').textContent()).toContain(
      '"targetRpm": 1200',
    );
    expect(await page.locator('[data-testid=rtt]').textContent()).toMatch(/\d+(\.\d)? ms/);

    await sendRequest(page, 'press1.set_speed', '{"rpm":99999}');
    await page.waitForSelector('[data-testid=response][data-outcome=failure]');
    expect(await page.locator('[data-testid=response-error]').textContent()).toContain(
      'rpm must be between 0 and 3000, got 99999',
    );
    // Both calls are in the history; clicking one loads it again.
    const history = page.locator('[data-testid=history] .history-item');
    expect(await history.count()).toBeGreaterThanOrEqual(2);
    await history.nth(1).click();
    expect(await page.inputValue('[data-testid=request-body]')).toBe('{"rpm":1200}');
  });

  it('subscribes to press1.> and shows values changing', async () => {
    await subscribe(page, 'press1.>');
    const cycles = page.locator('[data-testid=live-table] tr[data-topic="press1.cycles"] td.value');
    await cycles.waitFor();
    const first = Number(await cycles.textContent());
    await expect
      .poll(async () => Number(await cycles.textContent()), { timeout: 10_000 })
      .toBeGreaterThan(first);
    const rpm = page.locator('[data-testid=live-table] tr[data-topic="press1.rpm"]');
    await expect
      .poll(async () => Number(await rpm.locator('td.num').textContent()), { timeout: 5000 })
      .toBeGreaterThan(0);
    // The first numeric topic is charted.
    expect(await page.inputValue('[data-testid=chart-topic]')).not.toBe('');
    // The tap shows the traffic, in and out (the direction filter picks one).
    expect(
      await page.locator('[data-testid=tap-list] .vlist-row[data-dir=in]:visible').count(),
    ).toBeGreaterThan(0);
    await page.selectOption('[data-testid=tap-dir]', 'out');
    await expect
      .poll(() => page.locator('[data-testid=tap-list] .vlist-row[data-dir=out]:visible').count())
      .toBeGreaterThan(0);
    expect(
      await page.locator('[data-testid=tap-list] .vlist-row[data-dir=in]:visible').count(),
    ).toBe(0);
    await page.selectOption('[data-testid=tap-dir]', 'all');
    // Clicking a message shows it whole.
    await page.uncheck('[data-testid=tap-follow]');
    const box = await page.locator('[data-testid=tap-list]').boundingBox();
    if (!box) throw new Error('the tap list is not laid out');
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    expect(await page.locator('[data-testid=tap-detail]').textContent()).toMatch(
      /"message_type": 3/,
    );
    await page.waitForTimeout(1200); // a rate tick, so the screenshot shows msgs/s
    await page.screenshot({ path: `${ARTIFACTS}console-1280x800.png` });
  });

  it('serves <tab>.echo and <tab>.time to a Node module', async () => {
    const probe = await bed.module(new BaseModuleHandler('probe'));
    const echo = await probe.request(`${tabName}.echo`, { hello: 'browser', n: [1, 2, 3] });
    expect(echo.success).toBe(true);
    expect(echo.data).toEqual({ hello: 'browser', n: [1, 2, 3] });
    const time = await probe.request(`${tabName}.time`);
    expect((time.data as { iso: string }).iso).toMatch(/^\d{4}-\d\d-\d\dT/);
    const missing = await probe.request(`${tabName}.nope`, null, { throwOnFailure: false });
    expect(missing.success).toBe(false);
    await expect
      .poll(() => page.locator('[data-testid=served]').textContent())
      .toContain('served 2');
    // The served requests are in the tap, filterable by topic.
    await page.fill('[data-testid=tap-filter]', `${tabName}.echo`);
    await expect
      .poll(() => page.locator('[data-testid=tap-list] .vlist-row:visible').count())
      .toBe(2);
    await page.fill('[data-testid=tap-filter]', '');
  });

  it('lays out on a narrow screen without horizontal overflow', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
    }));
    expect(overflow.scrollWidth).toBeLessThanOrEqual(overflow.clientWidth);
    await page.screenshot({ path: `${ARTIFACTS}console-390x844.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.waitForTimeout(200);
  });

  it('has logged no console errors so far', () => {
    expect(pageErrors.map((e) => e.text)).toEqual([]);
  });

  it('keeps rendering while 5,000 messages a second flow through the tap', async () => {
    const SECONDS = 3;
    const RATE = 5000;
    const TOPICS = 10;
    const load = await bed.module(new BaseModuleHandler('load1'));
    await subscribe(page, 'load1.>');
    // The costly case: the tap follows the newest message, so every frame shows new rows.
    await page.check('[data-testid=tap-follow]');

    const bridgeBefore = bed.bridge.metrics();
    // In the page: requestAnimationFrame deltas for the whole run.
    const frames = page.evaluate(
      (ms) =>
        new Promise<number[]>((done) => {
          const deltas: number[] = [];
          let last = performance.now();
          const end = last + ms;
          const step = (t: number): void => {
            deltas.push(t - last);
            last = t;
            if (t < end) requestAnimationFrame(step);
            else done(deltas);
          };
          requestAnimationFrame(step);
        }),
      SECONDS * 1000,
    );
    // In Node: RATE broadcasts a second, spread over TOPICS topics, paced every 5 ms.
    let sent = 0;
    const started = performance.now();
    await new Promise<void>((done) => {
      const timer = setInterval(() => {
        const elapsed = performance.now() - started;
        const due = Math.min(RATE * SECONDS, Math.floor((elapsed / 1000) * RATE));
        while (sent < due) {
          load.broadcast(`load1.v${sent % TOPICS}`, Math.sin(sent / 500) * 100 + (sent % TOPICS));
          sent++;
        }
        if (sent >= RATE * SECONDS) {
          clearInterval(timer);
          done();
        }
      }, 5);
    });
    const deltas = (await frames).slice(1);
    const bridgeAfter = bed.bridge.metrics();
    // The followed tap shows the newest messages, not stale or empty rows.
    const shownTopics = await page
      .locator('[data-testid=tap-list] .vlist-row:visible .c-topic')
      .allTextContents();
    expect(shownTopics.length).toBeGreaterThan(5);
    expect(shownTopics.filter((t) => t === '')).toEqual([]);
    // The filter works over the full ring too.
    await page.fill('[data-testid=tap-filter]', 'load1.>');
    const loadRows = page.locator('[data-testid=tap-list] .vlist-row:visible .c-topic');
    await expect.poll(async () => (await loadRows.allTextContents()).length).toBeGreaterThan(5);
    expect((await loadRows.allTextContents()).filter((t) => !t.startsWith('load1.'))).toEqual([]);
    await page.fill('[data-testid=tap-filter]', '');
    await page.waitForTimeout(1100); // let the stats tick
    const stats = (await page.locator('[data-testid=tap-stats]').textContent()) ?? '';
    await page.screenshot({ path: `${ARTIFACTS}console-load.png` });

    const sorted = [...deltas].sort((a, b) => a - b);
    const budget = 1000 / 60;
    const dropped = deltas.reduce((n, d) => n + Math.max(0, Math.round(d / budget) - 1), 0);
    const received = await page.evaluate(
      () => document.querySelectorAll('[data-testid=live-table] tr[data-topic^="load1."]').length,
    );
    console.log(
      [
        '',
        `| console under load (${RATE} msgs/s for ${SECONDS} s, ${sent} sent) | value |`,
        '|---|---|',
        `| frames rendered | ${deltas.length} |`,
        `| frame time p50 | ${percentile(sorted, 50).toFixed(1)} ms |`,
        `| frame time p95 | ${percentile(sorted, 95).toFixed(1)} ms |`,
        `| frame time max | ${(sorted[sorted.length - 1] ?? NaN).toFixed(1)} ms |`,
        `| dropped frames (vs 60 Hz) | ${dropped} |`,
        `| load topics in the table | ${received} |`,
        `| bridge -> page messages during the run | ${bridgeAfter.messagesOut - bridgeBefore.messagesOut} |`,
        `| broadcasts coalesced by the bridge | ${bridgeAfter.coalesced - bridgeBefore.coalesced} |`,
        `| tap stats | ${stats} |`,
        '',
      ].join('\n'),
    );
    expect(deltas.length).toBeGreaterThan(30);
    expect(received).toBe(TOPICS);
    expect(await state(page)).toBe('connected');
    // The tap saw the load, and memory stays bounded: it keeps at most 10,000 messages.
    expect(Number(/\(([\d,]+) seen\)/.exec(stats)?.[1]?.replace(/,/g, ''))).toBeGreaterThan(RATE);
    expect(stats).toMatch(/of (10,000|\d{1,4}) kept/);
    expect(pageErrors.map((e) => e.text)).toEqual([]);
  });

  it('shows reconnecting with the attempt count when the bridge goes, and recovers', async () => {
    const port = bed.bridge.port;
    const quietFrom = Date.now();
    await bed.bridge.close();
    await expect
      .poll(async () => (await page.locator('[data-testid=conn-state]').textContent()) ?? '', {
        timeout: 10_000,
      })
      .toMatch(/reconnecting \(attempt \d+/);
    expect(await page.locator('[data-testid=last-error]').textContent()).toMatch(/Last error/);
    await page.screenshot({ path: `${ARTIFACTS}console-reconnecting.png` });
    bed.bridge = await createBridge({ ...bed.bridgeOptions, port });
    await page.waitForSelector('[data-testid=conn-state][data-state=connected]', {
      timeout: 20_000,
    });
    // Subscriptions come back with the connection.
    const cycles = page.locator('[data-testid=live-table] tr[data-topic="press1.cycles"] td.value');
    const before = Number(await cycles.textContent());
    await expect
      .poll(async () => Number(await cycles.textContent()), { timeout: 10_000 })
      .toBeGreaterThan(before);
    // Only the browser's own reports of the refused WebSocket connections are expected.
    const unexpected = pageErrors.filter(
      (e) => e.at >= quietFrom && !/WebSocket connection to .* failed/.test(e.text),
    );
    expect(unexpected.map((e) => e.text)).toEqual([]);
  });
});
