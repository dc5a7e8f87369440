import type { DbHandle } from '../platform/db/index.ts';
import { newId, now } from '../platform/db/index.ts';
import { appendEvent } from '../platform/events.ts';
import { AppError, notFound } from '../platform/errors.ts';
import { themeLabels } from './models.ts';

/**
 * Staff correct a story's themes. The correction is kept (who, when, before and after), the story
 * shows the corrected themes at full confidence, and `carevoice train --with-corrections` adds every
 * latest correction to the training rows.
 */
export async function correctThemes(handle: DbHandle, o: { storyId: string; labels: string[]; by: string }): Promise<void> {
  const known = new Set(themeLabels());
  const labels = [...new Set(o.labels)];
  const unknown = labels.filter((l) => !known.has(l));
  if (unknown.length) throw new AppError('unknown_theme', 400, `Not a theme of the framework: ${unknown.join(', ')}`);
  await handle.db.transaction().execute(async (trx) => {
    const story = await trx.selectFrom('stories').select(['id', 'themes']).where('id', '=', o.storyId).executeTakeFirst();
    if (!story) throw notFound('story', 'story_not_found');
    await trx.insertInto('theme_corrections').values({ id: newId(), story_id: o.storyId, labels: JSON.stringify(labels), previous: story.themes, corrected_by: o.by, created_at: now() }).execute();
    await trx.updateTable('stories').set({ themes: JSON.stringify(labels.map((label) => ({ label, score: 1, corrected: true }))), topics: JSON.stringify(labels), updated_at: now() }).where('id', '=', o.storyId).execute();
    await appendEvent(trx, handle.dialect, { type: 'story.themes_corrected', subject: o.storyId, actorId: o.by, data: { labels } });
  });
}

/** The latest correction of each story, as training rows (the text as the author wrote it). */
export async function correctionRows(handle: DbHandle): Promise<Array<{ text: string; labels: string[] }>> {
  const rows = await handle.db
    .selectFrom('theme_corrections')
    .innerJoin('stories', 'stories.id', 'theme_corrections.story_id')
    .select(['theme_corrections.story_id', 'theme_corrections.labels', 'theme_corrections.created_at', 'stories.original_title', 'stories.original_body'])
    .orderBy('theme_corrections.created_at')
    .execute();
  const latest = new Map<string, (typeof rows)[number]>();
  for (const r of rows) latest.set(r.story_id, r);
  return [...latest.values()].map((r) => ({ text: `${r.original_title}. ${r.original_body}`, labels: JSON.parse(r.labels) as string[] }));
}
