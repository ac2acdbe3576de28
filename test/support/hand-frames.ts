/**
 * Bytes built by hand, without the codec under test, so codec tests compare against something
 * independent. Web APIs only: the core tests also run in Chromium.
 */

/** The bytes of an ASCII-only string, one byte per character (refuses anything else). */
export function ascii(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) throw new Error(`ascii(): non-ASCII character at ${i}`);
    out.push(c);
  }
  return out;
}

/** A frame around `json` with header type `type` (any member order, duplicate keys allowed). */
export function frameOf(json: string, type: number): Uint8Array {
  const payload = new TextEncoder().encode(json);
  const frame = new Uint8Array(5 + payload.length);
  new DataView(frame.buffer).setUint32(0, payload.length, true);
  frame[4] = type;
  frame.set(payload, 5);
  return frame;
}
