import path from 'node:path';
import { z } from 'zod';

// Configuration comes from the environment only, parsed once at start-up. A bad value stops the
// program with a one-line reason (see main.ts) rather than failing later in a request.
const EnvSchema = z.object({
  DATABASE_URL: z
    .string()
    .trim()
    .optional()
    .refine((v) => !v || /^postgres(ql)?:\/\//.test(v) || v.startsWith('sqlite:') || v.startsWith('file:'), {
      message: 'must start with postgres://, sqlite: or file:',
    }),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  PUBLIC_URL: z.string().url().optional(),
  SMTP_URL: z
    .string()
    .optional()
    .refine((v) => !v || /^smtps?:\/\//.test(v), { message: 'must start with smtp:// or smtps://' }),
  MAIL_FROM: z.string().default('Carevoice <no-reply@carevoice.local>'),
  SESSION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  JOBS: z.enum(['on', 'off']).default('on'),
  DATA_DIR: z.string().default('data'),
  SECRETS_KEY: z
    .string()
    .optional()
    .refine((v) => !v || Buffer.from(v, 'base64').length === 32, { message: 'must be 32 bytes in base64 (openssl rand -base64 32)' }),
  STORY_RATE_LIMIT: z.coerce.number().int().min(0).default(20),
  // Checked here, read where the reader threads start (platform/db/readers.ts).
  SQLITE_READERS: z.coerce.number().int().min(0).max(64).optional(),
  NODE_ENV: z.string().default('development'),
});

export interface Config {
  database: { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };
  port: number;
  host: string;
  publicUrl: string;
  smtpUrl: string | undefined;
  mailFrom: string;
  sessionSecret: string | undefined;
  logLevel: z.infer<typeof EnvSchema>['LOG_LEVEL'];
  jobs: boolean;
  dataDir: string;
  production: boolean;
  /** Encrypts channel secrets at rest; absent: a key file made once in dataDir (see secrets.ts). */
  secretsKey: string | undefined;
  /** Stories one address may tell per minute (web and API); 0 turns the limit off (benchmarks). */
  storyRateLimit: number;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`bad configuration: ${issue.path.join('.')} ${issue.message}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.DATA_DIR);
  let database: Config['database'];
  if (e.DATABASE_URL && /^postgres(ql)?:\/\//.test(e.DATABASE_URL)) {
    database = { kind: 'postgres', url: e.DATABASE_URL };
  } else if (e.DATABASE_URL) {
    const file = e.DATABASE_URL.replace(/^(sqlite|file):(\/\/)?/, '');
    if (!file) throw new ConfigError('bad configuration: DATABASE_URL names no SQLite file');
    database = { kind: 'sqlite', file: file === ':memory:' ? file : path.resolve(file) };
  } else {
    database = { kind: 'sqlite', file: path.join(dataDir, 'carevoice.db') };
  }
  return {
    database,
    port: e.PORT,
    host: e.HOST,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    smtpUrl: e.SMTP_URL || undefined,
    mailFrom: e.MAIL_FROM,
    sessionSecret: e.SESSION_SECRET,
    logLevel: e.LOG_LEVEL,
    jobs: e.JOBS === 'on',
    dataDir,
    production: e.NODE_ENV === 'production',
    storyRateLimit: e.STORY_RATE_LIMIT,
    secretsKey: e.SECRETS_KEY || undefined,
  };
}
