import { describe, expect, it } from 'vitest';

// Tooling smoke test: runs in the `unit` (Node) project and inside Chromium in the `browser` project.
describe('tooling smoke (isomorphic)', () => {
  it('round-trips UTF-8 through TextEncoder/TextDecoder', () => {
    const text = 'autocore ✓ ü 🚀';
    const bytes = new TextEncoder().encode(text);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(new TextDecoder().decode(bytes)).toBe(text);
  });
});
