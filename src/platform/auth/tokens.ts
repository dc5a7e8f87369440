import { createHash, randomFillSync } from 'node:crypto';

/**
 * Random bytes from the operating system's CSPRNG, drawn 4 KiB at a time and each handed out once
 * (as Node's own randomUUID does): under load a call for a few bytes cost about 15 us here, most of
 * it the system call, and telling a story needs two (its reference and its author's token).
 */
const pool = Buffer.alloc(4096);
let used = pool.length;
export function secureRandomBytes(n: number): Buffer {
  if (n > pool.length) return randomFillSync(Buffer.alloc(n));
  if (used + n > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const out = Buffer.from(pool.subarray(used, used + n));
  pool.fill(0, used, used + n);
  used += n;
  return out;
}

/** A random secret for a cookie or an API key: 256 bits, URL-safe. */
export const randomToken = (bytes = 32) => secureRandomBytes(bytes).toString('base64url');

/**
 * Session tokens and API keys are high-entropy random values, so a fast hash is enough to make a
 * leaked table useless (argon2 is for low-entropy passwords and would cost ~50 ms per request).
 */
export const sha256 = (value: string | Uint8Array) => createHash('sha256').update(value).digest('hex');
