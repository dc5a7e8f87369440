import { describe, expect, it } from 'vitest';
import { newId } from './index.ts';

describe('newId', () => {
  it('makes UUIDv7s, in the order of their making across milliseconds, all different', async () => {
    const first = newId();
    await new Promise((resolve) => setTimeout(resolve, 3));
    const many = Array.from({ length: 1000 }, () => newId());
    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(many.every((id) => id > first)).toBe(true);
    expect(new Set(many).size).toBe(many.length);
    const ms = Number.parseInt(first.replace(/-/g, '').slice(0, 12), 16);
    expect(Math.abs(ms - Date.now())).toBeLessThan(5_000);
  });
});
