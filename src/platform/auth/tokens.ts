import { createHash, randomBytes } from 'node:crypto';

/** A random secret for a cookie or an API key: 256 bits, URL-safe. */
export const randomToken = (bytes = 32) => randomBytes(bytes).toString('base64url');

/**
 * Session tokens and API keys are high-entropy random values, so a fast hash is enough to make a
 * leaked table useless (argon2 is for low-entropy passwords and would cost ~50 ms per request).
 */
export const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
