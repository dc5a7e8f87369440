import nodemailer from 'nodemailer';
import type { Transaction } from 'kysely';
import type { Database } from './db/schema.ts';
import type { Db } from './db/index.ts';
import { now } from './db/index.ts';
import { enqueue, type JobHandler } from './jobs.ts';

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
  await enqueue(trx, { kind: 'mail.send', payload: msg, dedupeKey });
}

export function mailHandler(db: Db, opts: { smtpUrl?: string; from: string; publicUrl: string }): JobHandler {
  const transport = opts.smtpUrl ? nodemailer.createTransport(opts.smtpUrl) : undefined;
  const host = new URL(opts.publicUrl).hostname || 'carevoice.local';
  return async (payload, { jobId }) => {
    const msg = payload as MailMessage;
    const id = `job-${jobId}`;
    const existing = await db.selectFrom('mail').select('status').where('id', '=', id).executeTakeFirst();
    if (existing?.status === 'sent') return;
    if (!existing) {
      await db
        .insertInto('mail')
        .values({ id, to_address: msg.to, subject: msg.subject, text_body: msg.text, status: 'stored', created_at: now(), sent_at: null })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    }
    if (!transport) return;
    await transport.sendMail({ from: opts.from, to: msg.to, subject: msg.subject, text: msg.text, messageId: `<${id}@${host}>` });
    await db.updateTable('mail').set({ status: 'sent', sent_at: now() }).where('id', '=', id).execute();
  };
}
