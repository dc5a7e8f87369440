import type { Config } from './config.ts';
import type { DbHandle } from './platform/db/index.ts';
import type { JobHandler } from './platform/jobs.ts';
import { mailHandler } from './platform/mail.ts';
import { storyJobs } from './stories/jobs.ts';
import { alertJobs } from './alerts/alerts.ts';
import { hotspotJobs } from './listening/hotspots.ts';
import { praiseJobs } from './listening/praise.ts';

/** Every kind of background job the app knows, by name. Features add theirs here. */
export function jobHandlers(handle: DbHandle, config: Config): Record<string, JobHandler> {
  return {
    'mail.send': mailHandler(handle.db, { smtpUrl: config.smtpUrl, from: config.mailFrom, publicUrl: config.publicUrl }),
    ...storyJobs(handle, config.publicUrl),
    ...alertJobs(handle, config.publicUrl),
    ...hotspotJobs(handle, config.publicUrl),
    ...praiseJobs(handle, config.publicUrl),
  };
}
