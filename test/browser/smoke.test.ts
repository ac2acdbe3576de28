import { describe, expect, it } from 'vitest';

// Tooling smoke test: proves the `browser` project really runs inside Chromium.
describe('tooling smoke (browser)', () => {
  it('runs in a real Chromium page', () => {
    expect(typeof window).not.toBe('undefined');
    expect(navigator.userAgent).toContain('Chrome');
  });
});
