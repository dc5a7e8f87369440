import { describe, expect, it } from 'vitest';
import { randomToken, secureRandomBytes } from './tokens.ts';

describe('pooled random bytes', () => {
  it('hands out each byte once, across pool refills, at every size asked', () => {
    const seen = new Set<string>();
    // 3,000 draws of 8 bytes cross the 4 KiB pool's refill several times.
    for (let i = 0; i < 3000; i++) {
      const b = secureRandomBytes(8);
      expect(b).toHaveLength(8);
      seen.add(b.toString('hex'));
    }
    expect(seen.size).toBe(3000);
    expect(secureRandomBytes(10_000)).toHaveLength(10_000);
    // Handed-out bytes are copies: changing one changes nothing drawn later.
    const a = secureRandomBytes(16);
    a.fill(0);
    expect(secureRandomBytes(16).equals(Buffer.alloc(16))).toBe(false);
  });

  it('makes URL-safe tokens of 256 bits by default', () => {
    const t = randomToken();
    expect(t).toMatch(/^[\w-]{43}$/);
    expect(new Set(Array.from({ length: 500 }, () => randomToken())).size).toBe(500);
  });
});
