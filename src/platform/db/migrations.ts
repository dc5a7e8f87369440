import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from './index.ts';

// Forward-only migrations shared by SQLite and PostgreSQL. Each one is written with Kysely's schema
// builder; the few differences (auto-increment ids) are decided by `dialect`. Never edit a migration
// that has shipped: add a new one.
type Up = (db: Kysely<unknown>, dialect: Dialect) => Promise<void>;

function serialId(dialect: Dialect) {
  return dialect === 'postgres' ? ('bigserial' as const) : ('integer' as const);
}

const foundation: Up = async (db, dialect) => {
  await db.schema
    .createTable('organisations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('ods_code', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('review_window_hours', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('services')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organisations.id'))
    .addColumn('parent_id', 'text', (c) => c.references('services.id'))
    .addColumn('code', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('depth', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('services_org').on('services').column('org_id').execute();
  await db.schema.createIndex('services_parent').on('services').column('parent_id').execute();
  if (dialect === 'postgres') {
    // text_pattern_ops lets `path LIKE 'prefix%'` use the index whatever the collation.
    await sql`CREATE INDEX services_path ON services (path text_pattern_ops)`.execute(db);
  } else {
    await db.schema.createIndex('services_path').on('services').column('path').execute();
  }
  await db.schema.createIndex('services_lower_name').on('services').expression(sql`lower(name)`).execute();

  await db.schema
    .createTable('service_hashtags')
    .addColumn('tag', 'text', (c) => c.primaryKey())
    .addColumn('display', 'text', (c) => c.notNull())
    .addColumn('service_id', 'text', (c) => c.notNull().references('services.id'))
    .execute();
  await db.schema.createIndex('service_hashtags_service').on('service_hashtags').column('service_id').execute();

  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('platform_role', 'text')
    .addColumn('failed_sign_ins', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_until', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('memberships')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('org_id', 'text', (c) => c.notNull().references('organisations.id'))
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('memberships_pk', ['user_id', 'org_id', 'role'])
    .execute();
  await db.schema.createIndex('memberships_org').on('memberships').columns(['org_id', 'role']).execute();

  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('last_seen_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('prefix', 'text', (c) => c.notNull())
    .addColumn('key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_used_at', 'text')
    .addColumn('revoked_at', 'text')
    .execute();

  await db.schema
    .createTable('events')
    .addColumn('id', serialId(dialect), (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('org_id', 'text')
    .addColumn('subject', 'text')
    .addColumn('actor_id', 'text')
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('events_org').on('events').columns(['org_id', 'id']).execute();
  await db.schema.createIndex('events_subject').on('events').columns(['subject', 'id']).execute();

  await db.schema
    .createTable('jobs')
    .addColumn('id', serialId(dialect), (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('dedupe_key', 'text', (c) => c.unique())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', (c) => c.notNull().defaultTo(10))
    .addColumn('run_at', 'text', (c) => c.notNull())
    .addColumn('locked_until', 'text')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('done_at', 'text')
    .execute();
  await db.schema.createIndex('jobs_ready').on('jobs').columns(['status', 'run_at']).execute();

  await db.schema
    .createTable('mail')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('to_address', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('text_body', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('sent_at', 'text')
    .execute();

  await settingsTable(db);
};

async function settingsTable(db: Kysely<unknown>) {
  await db.schema
    .createTable('settings')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();
}

const stories: Up = async (db, dialect) => {
  await db.schema
    .createTable('stories')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('ref', 'text', (c) => c.notNull().unique())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('original_title', 'text', (c) => c.notNull())
    .addColumn('original_body', 'text', (c) => c.notNull())
    .addColumn('author_pseudonym', 'text', (c) => c.notNull())
    .addColumn('author_role', 'text', (c) => c.notNull())
    .addColumn('author_email', 'text')
    .addColumn('author_token_hash', 'text')
    .addColumn('rating', 'integer')
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('moderation', 'text', (c) => c.notNull())
    .addColumn('moderation_reason', 'text')
    .addColumn('urgent', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('safeguarding', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('suggested_criticality', 'integer')
    .addColumn('criticality', 'integer')
    .addColumn('progress', 'text', (c) => c.notNull().defaultTo('unheard'))
    .addColumn('experienced_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('sentiment', 'text')
    .addColumn('themes', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('idempotency_key', 'text', (c) => c.unique())
    .addColumn('created_by', 'text', (c) => c.references('users.id'))
    .addColumn('submitted_at', 'text', (c) => c.notNull())
    .addColumn('publish_at', 'text')
    .addColumn('published_at', 'text')
    .addColumn('decided_at', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('stories_queue').on('stories').columns(['moderation', 'urgent', 'submitted_at']).execute();
  await db.schema.createIndex('stories_published').on('stories').columns(['moderation', 'published_at']).execute();
  await db.schema.createIndex('stories_author_email').on('stories').column('author_email').execute();

  await db.schema
    .createTable('story_services')
    .addColumn('story_id', 'text', (c) => c.notNull().references('stories.id'))
    .addColumn('service_id', 'text', (c) => c.notNull().references('services.id'))
    .addColumn('org_id', 'text', (c) => c.notNull().references('organisations.id'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('story_services_pk', ['story_id', 'service_id'])
    .execute();
  await db.schema.createIndex('story_services_service').on('story_services').columns(['service_id', 'story_id']).execute();
  await db.schema.createIndex('story_services_org').on('story_services').columns(['org_id', 'story_id']).execute();

  await db.schema
    .createTable('story_tags')
    .addColumn('story_id', 'text', (c) => c.notNull().references('stories.id'))
    .addColumn('tag_group', 'text', (c) => c.notNull())
    .addColumn('tag', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('story_tags_pk', ['story_id', 'tag_group', 'tag'])
    .execute();
  await db.schema.createIndex('story_tags_tag').on('story_tags').columns(['tag', 'story_id']).execute();

  await db.schema
    .createTable('story_findings')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('story_id', 'text', (c) => c.notNull().references('stories.id'))
    .addColumn('field', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('start', 'integer', (c) => c.notNull())
    .addColumn('end', 'integer', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('replacement', 'text', (c) => c.notNull())
    .addColumn('accepted', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.createIndex('story_findings_story').on('story_findings').column('story_id').execute();

  await db.schema
    .createTable('story_experienced')
    .addColumn('story_id', 'text', (c) => c.notNull().references('stories.id'))
    .addColumn('voter', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('story_experienced_pk', ['story_id', 'voter'])
    .execute();

  await db.schema
    .createTable('story_drafts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('story_id', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  // Full-text search over published stories: FTS5 on SQLite (kept in step by triggers), a stored
  // tsvector with a GIN index on PostgreSQL. src/stories/search.ts hides the difference.
  if (dialect === 'postgres') {
    await sql`ALTER TABLE stories ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('english', title || ' ' || body)) STORED`.execute(db);
    await sql`CREATE INDEX stories_search ON stories USING gin (search)`.execute(db);
  } else {
    await sql`CREATE VIRTUAL TABLE stories_fts USING fts5(title, body, content='stories', content_rowid='rowid', tokenize='porter unicode61')`.execute(db);
    await sql`CREATE TRIGGER stories_fts_insert AFTER INSERT ON stories BEGIN
      INSERT INTO stories_fts(rowid, title, body) VALUES (new.rowid, new.title, new.body); END`.execute(db);
    await sql`CREATE TRIGGER stories_fts_delete AFTER DELETE ON stories BEGIN
      INSERT INTO stories_fts(stories_fts, rowid, title, body) VALUES ('delete', old.rowid, old.title, old.body); END`.execute(db);
    await sql`CREATE TRIGGER stories_fts_update AFTER UPDATE OF title, body ON stories BEGIN
      INSERT INTO stories_fts(stories_fts, rowid, title, body) VALUES ('delete', old.rowid, old.title, old.body);
      INSERT INTO stories_fts(rowid, title, body) VALUES (new.rowid, new.title, new.body); END`.execute(db);
  }
};

const themeCorrections: Up = async (db) => {
  await db.schema
    .createTable('theme_corrections')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('story_id', 'text', (c) => c.notNull().references('stories.id'))
    .addColumn('labels', 'text', (c) => c.notNull())
    .addColumn('previous', 'text', (c) => c.notNull())
    .addColumn('corrected_by', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('theme_corrections_story').on('theme_corrections').columns(['story_id', 'created_at']).execute();
};

const responses: Up = async (db) => {
  await db.schema
    .createTable('responses')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('story_id', 'text', (c) => c.notNull().references('stories.id'))
    .addColumn('org_id', 'text', (c) => c.notNull().references('organisations.id'))
    .addColumn('author_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('change', 'text')
    .addColumn('change_description', 'text')
    .addColumn('change_status', 'text')
    .addColumn('moderation', 'text', (c) => c.notNull())
    .addColumn('moderation_reason', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('edit_until', 'text', (c) => c.notNull())
    .addColumn('published_at', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('responses_story').on('responses').columns(['story_id', 'moderation']).execute();
  await db.schema.createIndex('responses_author').on('responses').columns(['author_id', 'moderation']).execute();
  await db.schema.createIndex('responses_queue').on('responses').columns(['moderation', 'created_at']).execute();
};

const handling: Up = async (db) => {
  // How each organisation named by a story handles it: read, owner (the fixer), due date.
  await db.schema
    .createTable('story_handling')
    .addColumn('story_id', 'text', (c) => c.notNull().references('stories.id'))
    .addColumn('org_id', 'text', (c) => c.notNull().references('organisations.id'))
    .addColumn('read_at', 'text')
    .addColumn('read_by', 'text', (c) => c.references('users.id'))
    .addColumn('assignee_id', 'text', (c) => c.references('users.id'))
    .addColumn('assigned_at', 'text')
    .addColumn('due_at', 'text')
    .addPrimaryKeyConstraint('story_handling_pk', ['story_id', 'org_id'])
    .execute();
  await db.schema.createIndex('story_handling_assignee').on('story_handling').columns(['assignee_id', 'due_at']).execute();
  await db.schema
    .createTable('story_notes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('story_id', 'text', (c) => c.notNull().references('stories.id'))
    .addColumn('org_id', 'text', (c) => c.notNull().references('organisations.id'))
    .addColumn('author_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('story_notes_story').on('story_notes').columns(['story_id', 'org_id']).execute();
  await db.schema.alterTable('organisations').addColumn('target_days_critical', 'integer', (c) => c.notNull().defaultTo(1)).execute();
  await db.schema.alterTable('organisations').addColumn('target_days_other', 'integer', (c) => c.notNull().defaultTo(5)).execute();
};

const responseExtras: Up = async (db) => {
  await db.schema
    .createTable('response_helpful')
    .addColumn('response_id', 'text', (c) => c.notNull().references('responses.id'))
    .addColumn('voter', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('response_helpful_pk', ['response_id', 'voter'])
    .execute();
  await db.schema.alterTable('responses').addColumn('helpful_count', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema
    .createTable('response_templates')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organisations.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
};

const alerts: Up = async (db) => {
  await db.schema
    .createTable('alert_subscriptions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('service_id', 'text', (c) => c.notNull().references('services.id'))
    .addColumn('min_criticality', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('themes', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('delivery', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('alert_subscriptions_user').on('alert_subscriptions').column('user_id').execute();
  await db.schema
    .createTable('notifications')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('story_id', 'text', (c) => c.notNull().references('stories.id'))
    .addColumn('subscription_id', 'text', (c) => c.notNull())
    .addColumn('delivery', 'text', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('read_at', 'text')
    .addColumn('digested_at', 'text')
    .addUniqueConstraint('notifications_once', ['user_id', 'story_id'])
    .execute();
  await db.schema.createIndex('notifications_user').on('notifications').columns(['user_id', 'read_at']).execute();
};

const authorReplies: Up = async (db) => {
  // Links emailed to a story's author; each mail gets its own, so one leaked link can be revoked alone.
  await db.schema
    .createTable('author_links')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('story_id', 'text', (c) => c.notNull().references('stories.id'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('author_replies')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('story_id', 'text', (c) => c.notNull().references('stories.id'))
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('moderation', 'text', (c) => c.notNull())
    .addColumn('moderation_reason', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('published_at', 'text')
    .execute();
  await db.schema.createIndex('author_replies_story').on('author_replies').columns(['story_id', 'moderation']).execute();
};

const authorAccess: Up = async (db) => {
  // Links that let a storyteller see, export or erase everything told with their email address.
  await db.schema
    .createTable('author_access')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
};

const listening: Up = async (db) => {
  // A channel is one organisation's connection to a social network or feed. Secrets (tokens, the
  // webhook key) are kept only encrypted (secret_enc); config holds the rest as JSON. The lease lets
  // exactly one app server run a channel's connector at a time.
  await db.schema
    .createTable('channels')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organisations.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('config', 'text', (c) => c.notNull())
    .addColumn('secret_enc', 'text', (c) => c.notNull())
    .addColumn('cursor', 'text')
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('starting'))
    .addColumn('last_error', 'text')
    .addColumn('lease_holder', 'text')
    .addColumn('lease_until', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  // One row per post per organisation; a deleted post keeps its row (text removed) so a late
  // backfill cannot bring it back.
  await db.schema
    .createTable('mentions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organisations.id'))
    .addColumn('channel_id', 'text')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('external_id', 'text', (c) => c.notNull())
    .addColumn('url', 'text')
    .addColumn('author', 'text', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('themes', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('topics', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('sentiment', 'text')
    .addColumn('posted_at', 'text', (c) => c.notNull())
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('edited_at', 'text')
    .addColumn('deleted_at', 'text')
    .addColumn('reply', 'text')
    .addColumn('replied_by', 'text')
    .addColumn('replied_at', 'text')
    .addColumn('story_id', 'text')
    .addUniqueConstraint('mentions_once', ['org_id', 'source', 'external_id'])
    .execute();
  // Topics: the likeliest themes of a story (see classifyText), what hotspots group by.
  await db.schema.alterTable('stories').addColumn('topics', 'text', (c) => c.notNull().defaultTo('[]')).execute();
  // Hotspot checks count negative published stories by time and topic: a partial index holding just
  // those (a third of stories) with their topics answers the count without reading the stories.
  await sql`CREATE INDEX stories_negative ON stories (moderation, published_at, topics) WHERE moderation = 'published' AND sentiment IN ('4', '5')`.execute(db);
  await db.schema.createIndex('mentions_org_time').on('mentions').columns(['org_id', 'received_at']).execute();
  await db.schema.createIndex('mentions_received').on('mentions').column('received_at').execute();
  await db.schema.createIndex('mentions_source_id').on('mentions').columns(['source', 'external_id']).execute();
  await db.schema
    .createTable('mention_services')
    .addColumn('mention_id', 'text', (c) => c.notNull().references('mentions.id'))
    .addColumn('service_id', 'text', (c) => c.notNull().references('services.id'))
    .addPrimaryKeyConstraint('mention_services_pk', ['mention_id', 'service_id'])
    .execute();
  await db.schema.createIndex('mention_services_service').on('mention_services').column('service_id').execute();
  // A hotspot: repeated negative items about one theme at one service. `key` (service + theme) with
  // `cooldown_until` makes one problem raise one hotspot; later items join it as evidence.
  await db.schema
    .createTable('hotspots')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organisations.id'))
    .addColumn('service_id', 'text', (c) => c.notNull().references('services.id'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('theme', 'text')
    .addColumn('count', 'integer', (c) => c.notNull())
    .addColumn('expected', 'real', (c) => c.notNull())
    .addColumn('detected_at', 'text', (c) => c.notNull())
    .addColumn('cooldown_until', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('hotspots_key').on('hotspots').columns(['key', 'cooldown_until']).execute();
  await db.schema.createIndex('hotspots_org').on('hotspots').columns(['org_id', 'detected_at']).execute();
  await db.schema
    .createTable('hotspot_items')
    .addColumn('hotspot_id', 'text', (c) => c.notNull().references('hotspots.id'))
    .addColumn('item_kind', 'text', (c) => c.notNull())
    .addColumn('item_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('hotspot_items_pk', ['hotspot_id', 'item_kind', 'item_id'])
    .execute();
  await db.schema
    .createTable('hotspot_notifications')
    .addColumn('hotspot_id', 'text', (c) => c.notNull().references('hotspots.id'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('read_at', 'text')
    .addPrimaryKeyConstraint('hotspot_notifications_pk', ['hotspot_id', 'user_id'])
    .execute();
};

const storyIntake: Up = async (db, dialect) => {
  // A story is acknowledged once it is in the intake: one row, appended, durable (see intake.ts).
  // The intake processor checks it (identifying details, safeguarding, criticality, themes) and
  // moves it into stories with its events and jobs. `ref` and `idempotency_key` are unique here
  // as in stories, so a clash is found while the author is still waiting for the answer.
  await db.schema
    .createTable('story_intake')
    .addColumn('seq', serialId(dialect), (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
    // Not indexed: every index is another page written per story, and the intake is read by story
    // only on rare pages (it holds a few rows, or a few thousand after a burst).
    .addColumn('story_id', 'text', (c) => c.notNull())
    .addColumn('ref', 'text', (c) => c.notNull().unique())
    .addColumn('idempotency_key', 'text')
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .execute();
  await sql`CREATE UNIQUE INDEX story_intake_idempotency ON story_intake (idempotency_key) WHERE idempotency_key IS NOT NULL`.execute(db);
  // When a story's checks ran. Stories told before the intake were checked as they were told.
  await db.schema.alterTable('stories').addColumn('checked_at', 'text').execute();
  await sql`UPDATE stories SET checked_at = submitted_at`.execute(db);
};

const intakeRetry: Up = async (db) => {
  // A story that could not be stored is tried again after a pause that doubles each time (see
  // intake.ts), not at once: a cause that passes (a lock, a restart) gets time to pass.
  await db.schema.alterTable('story_intake').addColumn('retry_at', 'text').execute();
};

const ftsWithoutPositions: Up = async (db, dialect) => {
  if (dialect === 'postgres') return;
  // Searches ask for every one of a few single words (ftsQuery in stories/read.ts), never a phrase
  // or a column: the index needs which stories hold a word, not where in them. Without positions
  // (detail=none) it is about a quarter of the size (22 MB against 5 MB for 100,000 stories), each
  // story told or imported writes less, and searches read less. The triggers name the table and
  // work on the new one as they did on the old.
  await sql`DROP TABLE stories_fts`.execute(db);
  await sql`CREATE VIRTUAL TABLE stories_fts USING fts5(title, body, content='stories', content_rowid='rowid', tokenize='porter unicode61', detail=none)`.execute(db);
  await sql`INSERT INTO stories_fts(stories_fts) VALUES ('rebuild')`.execute(db);
};

const ordered: Array<[string, Up]> = [
  ['0001_foundation', foundation],
  ['0002_stories', stories],
  ['0003_theme_corrections', themeCorrections],
  ['0004_responses', responses],
  ['0005_handling', handling],
  ['0006_response_extras', responseExtras],
  ['0007_alerts', alerts],
  ['0008_author_replies', authorReplies],
  ['0009_author_access', authorAccess],
  ['0010_listening', listening],
  ['0011_story_intake', storyIntake],
  ['0012_intake_retry', intakeRetry],
  ['0013_fts_without_positions', ftsWithoutPositions],
];

export function migrationsFor(dialect: Dialect): Record<string, Migration> {
  return Object.fromEntries(ordered.map(([name, up]) => [name, { up: (db: Kysely<unknown>) => up(db, dialect) }]));
}
