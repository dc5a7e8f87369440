import nodemailer from 'nodemailer';
import type { Transaction } from 'kysely';
import type { Database } from './db/schema.ts';
import type { Db } from './db/index.ts';
import { now } from './db/index.ts';
import { enqueue, type EnqueueOptions, type JobHandler } from './jobs.ts';

/**
 * Mail goes out through the durable jobs: a use case calls `queueMail` inside its transaction; the
 * `mail.send` job keeps a copy in the `mail` table (shown to admins when no SMTP server is set)
 * and sends it over SMTP when SMTP_URL is set. The job id is the mail id and the Message-ID, so a
 * retried job updates the same row and a receiving server can drop the rare duplicate send.
 */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

export async function queueMail(trx: Transaction<Database> | Db, msg: MailMessage, dedupeKey?: string): Promise<void> {
  await enqueue(trx, mailJob(msg, dedupeKey));
}

/** The job that sends a mail, for enqueueMany. */
export const mailJob = (msg: MailMessage, dedupeKey?: string): EnqueueOptions => ({ kind: 'mail.send', payload: msg, dedupeKey });

export function mailHandler(db: Db, opts: { smtpUrl?: string; from: string; publicUrl: string }): JobHandler {
  const transport = opts.smtpUrl ? nodemailer.createTransport(opts.smtpUrl) : undefined;
  const host = new URL(opts.publicUrl).hostname || 'carevoice.local';
  // Many at once: one read of which are already kept or sent, one statement keeping the new ones,
  // then each sent over SMTP in turn and marked sent together.
  const sendAll = async (jobs: Array<{ payload: unknown; jobId: number }>) => {
    const mails = jobs.map((j) => ({ ...(j.payload as MailMessage), id: `job-${j.jobId}` }));
    const existing = new Map((await db.selectFrom('mail').select(['id', 'status']).where('id', 'in', mails.map((m) => m.id)).execute()).map((m) => [m.id, m.status]));
    const fresh = mails.filter((m) => !existing.has(m.id));
    if (fresh.length) {
      await db
        .insertInto('mail')
        .values(fresh.map((m) => ({ id: m.id, to_address: m.to, subject: m.subject, text_body: m.text, status: 'stored', created_at: now(), sent_at: null })))
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    }
    if (!transport) return;
    const sent: string[] = [];
    try {
      for (const m of mails.filter((x) => existing.get(x.id) !== 'sent')) {
        await transport.sendMail({ from: opts.from, to: m.to, subject: m.subject, text: m.text, messageId: `<${m.id}@${host}>` });
        sent.push(m.id);
      }
    } finally {
      if (sent.length) await db.updateTable('mail').set({ status: 'sent', sent_at: now() }).where('id', 'in', sent).execute();
    }
  };
  return Object.assign(async (payload: unknown, { jobId }: { jobId: number }) => sendAll([{ payload, jobId }]), { batch: sendAll });
}
