import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { loadConfig, type Config } from './config.ts';
import { openDatabase, migrate, type DbHandle } from './platform/db/index.ts';
import { createLogger } from './platform/log.ts';
import { createViews } from './platform/views.ts';
import { cookieSecret } from './platform/secrets.ts';
import { JobWorker } from './platform/jobs.ts';
import { RequestRate } from './platform/load.ts';
import { intakeAppended, intakeProblems, processIntake, retryIntake } from './stories/intake.ts';
import { buildApp } from './app.ts';
import { jobHandlers } from './jobs.ts';
import { seedDemo, DEMO_USERS, DEMO_PASSWORD } from './demo/seed.ts';
import { addUser, createApiKey, ROLES, type RoleName } from './platform/auth/index.ts';
import { importDirectoryCsv } from './directory/import.ts';
import { AppError } from './platform/errors.ts';

/** Every command fails with one line on stderr and a non-zero exit; stack traces only with DEBUG. */
class CliError extends Error {}

async function withDatabase<T>(fn: (handle: DbHandle, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const handle = openDatabase(config.database);
  try {
    await migrate(handle);
    return await fn(handle, config);
  } finally {
    await handle.close();
  }
}

async function serve(opts: { port?: string; demo?: boolean }) {
  const started = performance.now();
  const env = { ...process.env };
  if (opts.port !== undefined) env.PORT = opts.port;
  const config = loadConfig(env);
  const log = createLogger(config.logLevel);
  const handle = openDatabase(config.database);
  await migrate(handle);
  let seeded = false;
  if (opts.demo) {
    const hasOrganisations = await handle.db.selectFrom('organisations').select('id').limit(1).executeTakeFirst();
    if (!hasOrganisations) {
      await seedDemo(handle, { publicUrl: config.publicUrl });
      seeded = true;
    }
  }
  const { warmModels } = await import('./stories/models.ts');
  warmModels();
  const requests = new RequestRate();
  const jobLog = log.child({ part: 'jobs' });
  const worker = config.jobs
    ? new JobWorker(handle, { handlers: jobHandlers(handle, config), log: jobLog, busy: () => requests.busy(), intake: (limit) => processIntake(handle, { limit, log: jobLog }) })
    : undefined;
  const wakeOnTold = () => worker?.wake();
  const app = await buildApp({ config, handle, log, views: createViews(), secret: await cookieSecret(handle.db, config.sessionSecret), worker, requests });
  await app.listen({ port: config.port, host: config.host });
  if (worker) {
    const { scheduleDigest } = await import('./alerts/alerts.ts');
    const { schedulePraiseDigest } = await import('./listening/praise.ts');
    await scheduleDigest(handle);
    await schedulePraiseDigest(handle);
    worker.start();
    intakeAppended.on('story', wakeOnTold);
  }
  // Social channels stream where jobs run (one lease per channel across servers).
  const { ChannelSupervisor } = await import('./listening/supervisor.ts');
  const { secretsKey } = await import('./platform/secrets.ts');
  const channels = config.jobs ? new ChannelSupervisor(handle, secretsKey(config), log.child({ part: 'channels' })) : undefined;
  channels?.start();
  const address = `http://localhost:${(app.server.address() as { port: number }).port}`;
  const ms = Math.round(performance.now() - started);
  const where = config.database.kind === 'sqlite' ? `SQLite ${config.database.file}` : 'PostgreSQL';
  console.log(`Carevoice is running at ${address} (database: ${where}; ready in ${ms} ms)`);
  if (opts.demo) {
    console.log(seeded ? 'Loaded the demo region. Demo sign-ins (password for all):' : 'Demo sign-ins (password for all):');
    console.log(`  password: ${DEMO_PASSWORD}`);
    for (const u of DEMO_USERS) console.log(`  ${u.email.padEnd(36)} ${u.what}`);
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing requests in flight');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    await app.close();
    log.info('no requests in flight; stopping the channels and the job loop');
    await channels?.stop();
    intakeAppended.off('story', wakeOnTold);
    await worker?.stop();
    await handle.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

const program = new Command();
program.name('carevoice').description('Carevoice: patient stories heard, answered and acted on').showHelpAfterError().exitOverride();

program
  .command('serve')
  .description('run the web app and API (migrates first)')
  .option('--port <n>', 'port to listen on (default PORT or 3000)')
  .option('--demo', 'load the demo region first when the database is empty')
  .action(serve);

program
  .command('migrate')
  .description('bring the database schema up to date (safe to run twice)')
  .action(() =>
    withDatabase(async (handle) => {
      const config = loadConfig();
      console.log(`database is up to date (${config.database.kind}${handle.dialect === 'sqlite' && config.database.kind === 'sqlite' ? `: ${config.database.file}` : ''})`);
    }),
  );

program
  .command('seed')
  .description('load data into the database')
  .option('--demo', 'the demo region: organisations, services, people (safe to run twice)')
  .action((opts: { demo?: boolean }) =>
    withDatabase(async (handle, config) => {
      if (!opts.demo) throw new CliError('say what to seed: --demo');
      const r = await seedDemo(handle, { publicUrl: config.publicUrl });
      console.log(`demo loaded: ${r.organisations} organisations, ${r.services} services, ${r.users} new users added, ${r.stories} published and ${r.pending} pending stories added`);
    }),
  );

const user = program.command('user').description('manage staff accounts');
user
  .command('add')
  .description('add a user or give an existing user another role')
  .requiredOption('--email <email>', 'email address (the sign-in)')
  .requiredOption('--name <name>', 'full name')
  .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
  .option('--org <code>', "organisation's ODS code (not for platform moderators and admins)")
  .option('--password <password>', 'password for a new user (default: the CAREVOICE_PASSWORD environment variable)')
  .action((opts: { email: string; name: string; role: string; org?: string; password?: string }) =>
    withDatabase(async (handle) => {
      if (!(ROLES as readonly string[]).includes(opts.role)) throw new CliError(`--role must be one of ${ROLES.join(', ')}`);
      let orgId: string | null = null;
      if (opts.org) {
        const org = await handle.db.selectFrom('organisations').select('id').where('ods_code', '=', opts.org).executeTakeFirst();
        if (!org) throw new CliError(`no organisation has the ODS code ${opts.org}`);
        orgId = org.id;
      }
      const r = await addUser(handle.db, { email: opts.email, name: opts.name, role: opts.role as RoleName, orgId, password: opts.password ?? process.env.CAREVOICE_PASSWORD });
      console.log(`${r.created ? 'added' : 'updated'} ${opts.email.toLowerCase()} as ${opts.role}${opts.org ? ` of ${opts.org}` : ''}`);
    }),
  );

program
  .command('apikey')
  .description('manage API keys')
  .command('create')
  .description('print a new API key for a user, alone on one line')
  .requiredOption('--email <email>', "the user's email")
  .action((opts: { email: string }) =>
    withDatabase(async (handle) => {
      const u = await handle.db.selectFrom('users').select('id').where('email', '=', opts.email.trim().toLowerCase()).executeTakeFirst();
      if (!u) throw new CliError(`no user has the email ${opts.email}`);
      process.stdout.write(`${await createApiKey(handle.db, u.id)}\n`);
    }),
  );

const intake = program.command('intake').description('stories told but not yet stored: those that failed to be stored');
intake
  .command('list')
  .description('list the stories that failed to be stored: reference, received, attempts, next try, last error')
  .action(() =>
    withDatabase(async (handle) => {
      const problems = await intakeProblems(handle.db);
      if (problems.length === 0) {
        console.log('every story told has been stored, or is waiting its turn');
        return;
      }
      for (const p of problems) {
        const next = p.retryAt ? `tried again at ${p.retryAt}` : 'not tried again until `carevoice intake retry`';
        console.log(`${p.ref}  received ${p.receivedAt}  ${p.attempts} failed attempts, ${next}\n  ${(p.lastError ?? '').replace(/\s+/g, ' ')}`);
      }
    }),
  );
intake
  .command('retry')
  .description('once the cause is mended, have stories that failed tried again at once')
  .option('--ref <ref>', 'only this story (its reference, CV-...)')
  .action((opts: { ref?: string }) =>
    withDatabase(async (handle) => {
      const n = await retryIntake(handle.db, { ref: opts.ref });
      if (opts.ref && n === 0) throw new CliError(`no story that failed to be stored has the reference ${opts.ref}`);
      console.log(`${n} ${n === 1 ? 'story' : 'stories'} will be tried again by the next server that runs jobs`);
    }),
  );

const importCmd = program.command('import').description('import data from files');
importCmd
  .command('fft')
  .description('import Friends and Family Test comments (CSV: date,service_code,rating,comment) as stories for moderation; re-importing adds nothing twice; all or nothing')
  .requiredOption('--org <code>', "the organisation's ODS code")
  .requiredOption('--file <file>', 'the CSV export')
  .action((opts: { org: string; file: string }) =>
    withDatabase(async (handle) => {
      const { importFftFile } = await import('./listening/fft.ts');
      const { closeAnalysisPool } = await import('./stories/analyse-pool.ts');
      const started = performance.now();
      try {
        const r = await importFftFile(handle, { orgCode: opts.org, file: opts.file });
        const s = (performance.now() - started) / 1000;
        console.log(`read ${r.read} rows: imported ${r.imported}, already there ${r.duplicates}, without a comment ${r.rejected} (${s.toFixed(1)} s)`);
      } finally {
        await closeAnalysisPool();
      }
    }),
  );
importCmd
  .command('directory')
  .description('import organisations and services from CSV (code,name,kind,parent_code,hashtags); all or nothing')
  .requiredOption('--file <file>', 'the CSV file')
  .option('--org <code>', 'add the services to this organisation (rows without parent_code go under it)')
  .action((opts: { file: string; org?: string }) =>
    withDatabase(async (handle) => {
      if (!fs.existsSync(opts.file)) throw new CliError(`no such file: ${opts.file}`);
      const r = await importDirectoryCsv(handle, fs.readFileSync(opts.file, 'utf8'), { orgCode: opts.org });
      console.log(`imported ${r.organisations} organisations and ${r.services} services`);
    }),
  );

program
  .command('redact')
  .description('remove identifying details from JSON lines {"id","text"}; writes {"id","text","findings"} lines')
  .requiredOption('--in <file>', 'input JSON lines')
  .requiredOption('--out <file>', 'output JSON lines')
  .action(async (opts: { in: string; out: string }) => {
    const { redactFile } = await import('./nlp/redact/index.ts');
    const r = await redactFile({ in: opts.in, out: opts.out });
    console.log(`redacted ${r.count} texts into ${opts.out}`);
  });

program
  .command('train')
  .description('train a text classifier from a CSV file and write the model')
  .requiredOption('--data <file>', 'the CSV file')
  .requiredOption('--text <column>', 'the column holding the text')
  .option('--label <column>', 'single-label: the column holding the class')
  .option('--labels-file <file>', 'multi-label: a file naming the one-hot label columns, one a line')
  .requiredOption('--out <model>', 'where to write the model')
  .option('--with-corrections', "add the theme corrections staff made in this database (DATABASE_URL) to the training rows")
  .action(async (opts: { data: string; text: string; label?: string; labelsFile?: string; out: string; withCorrections?: boolean }) => {
    if (!opts.label === !opts.labelsFile) throw new CliError('give exactly one of --label or --labels-file');
    const { trainFromCsv } = await import('./nlp/classifier/index.ts');
    let extraRows: Array<{ text: string; labels: string[] }> | undefined;
    if (opts.withCorrections) {
      const { correctionRows } = await import('./stories/themes.ts');
      extraRows = await withDatabase((handle) => correctionRows(handle));
      console.log(`adding ${extraRows.length} corrected stories to the training rows`);
    }
    const r = await trainFromCsv({ data: opts.data, text: opts.text, label: opts.label, labelsFile: opts.labelsFile, out: opts.out, extraRows });
    const cv = r.cv.find((c) => c.c === r.c) ?? r.cv[0];
    console.log(
      `trained a ${r.kind}-label model on ${r.rows} rows (${r.labels.length} labels; skipped ${r.skippedEmptyText} empty, ${r.skippedNoLabel} unlabelled) in ${r.seconds.toFixed(1)} s` +
        (cv ? `; cross-validated ${JSON.stringify(cv)}` : '') +
        `; wrote ${r.out} (${Math.round(r.bytes / 1024)} KiB)`,
    );
  });

program
  .command('classify')
  .description('classify JSON lines {"id","text"} with a model; writes {"id","labels","scores"} lines')
  .requiredOption('--model <model>', 'a model written by train')
  .requiredOption('--in <file>', 'input JSON lines')
  .requiredOption('--out <file>', 'output JSON lines')
  .action(async (opts: { model: string; in: string; out: string }) => {
    const { classifyFile } = await import('./nlp/classifier/index.ts');
    const r = await classifyFile({ model: opts.model, in: opts.in, out: opts.out });
    console.log(`classified ${r.count} texts into ${opts.out}`);
  });

program
  .command('backup')
  .description('copy the embedded SQLite database to a file while it is in use (online backup)')
  .requiredOption('--out <file>', 'where to write the copy (must not exist)')
  .action(async (opts: { out: string }) => {
    const config = loadConfig();
    if (config.database.kind !== 'sqlite') throw new CliError('backup is for the embedded SQLite database; for PostgreSQL use pg_dump (see the README)');
    if (fs.existsSync(opts.out)) throw new CliError(`${opts.out} already exists: choose a new file`);
    const handle = openDatabase(config.database);
    try {
      // SQLite's online backup API copies a consistent snapshot while other processes keep writing.
      await handle.sqlite!.backup(opts.out);
      const stories = await handle.db.selectFrom('stories').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      console.log(`backed up ${config.database.file} to ${opts.out} (${Number(stories.n)} stories)`);
    } finally {
      await handle.close();
    }
  });

program
  .command('restore')
  .description('replace the embedded SQLite database with a backup (stop the servers first)')
  .requiredOption('--from <file>', 'a file written by backup')
  .action(async (opts: { from: string }) => {
    const config = loadConfig();
    if (config.database.kind !== 'sqlite') throw new CliError('restore is for the embedded SQLite database; for PostgreSQL use pg_restore (see the README)');
    if (!fs.existsSync(opts.from)) throw new CliError(`no such file: ${opts.from}`);
    const { default: SqliteDatabase } = await import('better-sqlite3');
    const source = new SqliteDatabase(opts.from, { readonly: true, fileMustExist: true });
    try {
      const check = source.pragma('integrity_check', { simple: true });
      if (check !== 'ok') throw new CliError(`${opts.from} is not a sound database (${String(check)})`);
      if (!source.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'stories'").get()) throw new CliError(`${opts.from} is not a Carevoice database`);
      fs.mkdirSync(path.dirname(config.database.file), { recursive: true });
      // Write beside the database, then swap in one rename, so a crash never leaves half a database.
      const next = `${config.database.file}.restoring`;
      fs.rmSync(next, { force: true });
      await source.backup(next);
      for (const suffix of ['-wal', '-shm']) fs.rmSync(`${config.database.file}${suffix}`, { force: true });
      fs.renameSync(next, config.database.file);
    } finally {
      source.close();
    }
    const handle = openDatabase(config.database);
    try {
      await migrate(handle);
      const stories = await handle.db.selectFrom('stories').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      console.log(`restored ${config.database.file} from ${opts.from} (${Number(stories.n)} stories)`);
    } finally {
      await handle.close();
    }
  });

program
  .command('bench')
  .description('runs the benchmarks on a generated data set (a fresh database: DATABASE_URL names the PostgreSQL server to use) and prints one JSON object on stdout; see docs/BENCHMARKS.md')
  .option('--quick', '100,000 stories and shorter runs, a few minutes (the full run uses 1,000,000)')
  .action(async (opts: { quick?: boolean }) => {
    const { runBench } = await import('../bench/run.ts');
    const result = await runBench({ quick: !!opts.quick, databaseUrl: process.env.DATABASE_URL });
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  });

const channel = program.command('channel').description("manage an organisation's social media channels");
channel
  .command('add')
  .description('follow hashtags on a social network for an organisation; a running server starts it within 10 seconds')
  .argument('<kind>', 'mastodon, bluesky, x or webhook')
  .requiredOption('--org <code>', "the organisation's ODS code")
  .option('--instance <url>', 'Mastodon: the server, e.g. https://mastodon.social')
  .option('--endpoint <url>', 'Bluesky: the Jetstream address')
  .option('--api <url>', 'X: the API address')
  .option('--token <token>', 'Mastodon access token or X bearer token (stored encrypted)')
  .option('--tags <tags>', 'hashtags, comma-separated, with or without #')
  .option('--name <name>', 'a name for the channel')
  .action((kind: string, opts: { org: string; instance?: string; endpoint?: string; api?: string; token?: string; tags?: string; name?: string }) =>
    withDatabase(async (handle, config) => {
      const { addChannel } = await import('./listening/channels.ts');
      const { secretsKey } = await import('./platform/secrets.ts');
      const input = Object.fromEntries(
        Object.entries({ kind, name: opts.name, instance: opts.instance, endpoint: opts.endpoint, apiBase: opts.api, token: opts.token, tags: opts.tags }).filter(([, v]) => v !== undefined),
      );
      const added = await addChannel(handle, secretsKey(config), opts.org, input, null);
      console.log(`added ${kind} channel ${added.id}`);
      if (added.webhookSecret) console.log(`webhook: POST ${config.publicUrl}/api/v1/channels/${added.id}/webhook signed with key ${added.webhookSecret}`);
    }),
  );

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode);
  }
  const message = err instanceof AppError || err instanceof CliError || (err instanceof Error && err.name === 'ConfigError') ? err.message : err instanceof Error ? err.message : String(err);
  process.stderr.write(`carevoice: ${message.split('\n')[0]}\n`);
  if (process.env.DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
}
