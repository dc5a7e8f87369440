import type { Generated } from 'kysely';

// Timestamps are ISO-8601 UTC strings on both databases: they sort as text, travel through JSON
// unchanged and need no per-dialect conversion. Ids are UUIDs, except the events and jobs tables,
// whose monotonic integer ids are their cursors.

export interface OrganisationTable {
  id: string;
  ods_code: string;
  name: string;
  kind: string;
  review_window_hours: number;
  /** Response targets in working days: for criticality 4-5, and for the rest. */
  target_days_critical: number;
  target_days_other: number;
  created_at: string;
}

export interface ServiceTable {
  id: string;
  org_id: string;
  parent_id: string | null;
  code: string;
  name: string;
  kind: string;
  /** Materialised path of service ids, `/root/child/…/self/`: a subtree is `path LIKE prefix%`. */
  path: string;
  depth: number;
  created_at: string;
}

export interface ServiceHashtagTable {
  /** Lower-case, without `#`: hashtags are matched case-insensitively. */
  tag: string;
  display: string;
  service_id: string;
}

export interface UserTable {
  id: string;
  email: string;
  name: string;
  password_hash: string;
  platform_role: 'moderator' | 'admin' | null;
  failed_sign_ins: number;
  locked_until: string | null;
  created_at: string;
}

export interface MembershipTable {
  user_id: string;
  org_id: string;
  role: 'admin' | 'responder' | 'leader';
  created_at: string;
}

export interface SessionTable {
  /** SHA-256 of the cookie token: a stolen database cannot be replayed as sessions. */
  id: string;
  user_id: string;
  created_at: string;
  expires_at: string;
  last_seen_at: string;
}

export interface ApiKeyTable {
  id: string;
  user_id: string;
  prefix: string;
  key_hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface EventTable {
  id: Generated<number>;
  type: string;
  org_id: string | null;
  subject: string | null;
  actor_id: string | null;
  data: string;
  created_at: string;
}

export interface JobTable {
  id: Generated<number>;
  kind: string;
  payload: string;
  dedupe_key: string | null;
  status: 'queued' | 'running' | 'done' | 'failed';
  attempts: number;
  max_attempts: number;
  run_at: string;
  locked_until: string | null;
  last_error: string | null;
  created_at: string;
  done_at: string | null;
}

export interface MailTable {
  id: string;
  to_address: string;
  subject: string;
  text_body: string;
  status: 'stored' | 'sent';
  created_at: string;
  sent_at: string | null;
}

export interface SettingTable {
  key: string;
  value: string;
}

export type ModerationState = 'pending' | 'published' | 'rejected' | 'withdrawn';
export type Progress = 'unheard' | 'heard' | 'responded' | 'change_planned' | 'change_made';

export interface StoryTable {
  id: string;
  /** Short reference given to the author, e.g. CV-7K3P9Q. */
  ref: string;
  /** What the public sees once published: redacted and possibly edited by a moderator. */
  title: string;
  body: string;
  /** As the author wrote it: moderators only, never on a public page or the public API. */
  original_title: string;
  original_body: string;
  author_pseudonym: string;
  author_role: string;
  author_email: string | null;
  author_token_hash: string | null;
  rating: number | null;
  channel: string;
  moderation: ModerationState;
  moderation_reason: string | null;
  urgent: number;
  safeguarding: string;
  suggested_criticality: number | null;
  criticality: number | null;
  progress: Progress;
  experienced_count: number;
  sentiment: string | null;
  themes: string;
  topics: string;
  idempotency_key: string | null;
  created_by: string | null;
  submitted_at: string;
  publish_at: string | null;
  published_at: string | null;
  decided_at: string | null;
  updated_at: string;
  /** When the checks ran (see intake.ts); null only for a story stored some other way unchecked. */
  checked_at: string | null;
}

/** A story acknowledged and not yet checked and stored (see stories/intake.ts). */
export interface StoryIntakeTable {
  seq: Generated<number>;
  story_id: string;
  ref: string;
  idempotency_key: string | null;
  /** The validated story and what telling it decided (JSON, see IntakePayload). */
  payload: string;
  received_at: string;
  attempts: Generated<number>;
  last_error: string | null;
  /** After a failed attempt, not tried again before this time (ISO). */
  retry_at?: string | null;
}

export interface StoryServiceTable {
  story_id: string;
  service_id: string;
  org_id: string;
  position: number;
}

export interface StoryTagTable {
  story_id: string;
  tag_group: 'good' | 'improve' | 'felt';
  tag: string;
}

export interface StoryFindingTable {
  id: string;
  story_id: string;
  field: 'title' | 'body';
  type: string;
  start: number;
  end: number;
  text: string;
  replacement: string;
  accepted: number;
}

export interface StoryExperiencedTable {
  story_id: string;
  voter: string;
  created_at: string;
}

export interface StoryDraftTable {
  id: string;
  data: string;
  story_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface ThemeCorrectionTable {
  id: string;
  story_id: string;
  /** JSON array of the theme labels staff say are right. */
  labels: string;
  previous: string;
  corrected_by: string;
  created_at: string;
}

export interface ResponseTable {
  id: string;
  story_id: string;
  /** The organisation the responder answers for (one the story names). */
  org_id: string;
  author_id: string;
  body: string;
  change: 'planned' | 'made' | null;
  change_description: string | null;
  /** A moderator's check of the change claim: null until checked. */
  change_status: 'accepted' | 'rejected' | null;
  moderation: 'pending' | 'published' | 'rejected';
  moderation_reason: string | null;
  created_at: string;
  edit_until: string;
  published_at: string | null;
  updated_at: string;
  helpful_count: Generated<number>;
}

export interface StoryHandlingTable {
  story_id: string;
  org_id: string;
  read_at: string | null;
  read_by: string | null;
  assignee_id: string | null;
  assigned_at: string | null;
  due_at: string | null;
}

export interface StoryNoteTable {
  id: string;
  story_id: string;
  org_id: string;
  author_id: string;
  body: string;
  created_at: string;
}

export interface ResponseHelpfulTable {
  response_id: string;
  voter: string;
  created_at: string;
}

export interface ResponseTemplateTable {
  id: string;
  org_id: string;
  name: string;
  body: string;
  created_at: string;
}

export interface AlertSubscriptionTable {
  id: string;
  user_id: string;
  /** The service whose whole subtree is watched. */
  service_id: string;
  min_criticality: number;
  /** JSON array of theme labels; empty means every theme. */
  themes: string;
  delivery: 'immediate' | 'digest' | 'in_app';
  created_at: string;
}

export interface NotificationTable {
  id: string;
  user_id: string;
  story_id: string;
  subscription_id: string;
  delivery: 'immediate' | 'digest' | 'in_app';
  text: string;
  created_at: string;
  read_at: string | null;
  digested_at: string | null;
}

export interface AuthorLinkTable {
  token_hash: string;
  story_id: string;
  created_at: string;
}

export interface AuthorReplyTable {
  id: string;
  story_id: string;
  body: string;
  moderation: 'pending' | 'published' | 'rejected';
  moderation_reason: string | null;
  created_at: string;
  published_at: string | null;
}

export interface AuthorAccessTable {
  token_hash: string;
  email: string;
  created_at: string;
  expires_at: string;
}

export interface ChannelTable {
  id: string;
  org_id: string;
  kind: 'mastodon' | 'bluesky' | 'x' | 'webhook';
  name: string;
  config: string;
  secret_enc: string;
  cursor: string | null;
  enabled: number;
  status: string;
  last_error: string | null;
  lease_holder: string | null;
  lease_until: string | null;
  created_at: string;
  updated_at: string;
}

export interface MentionTable {
  id: string;
  org_id: string;
  channel_id: string | null;
  source: 'mastodon' | 'bluesky' | 'x' | 'webhook';
  external_id: string;
  url: string | null;
  author: string;
  text: string;
  tags: string;
  themes: string;
  topics: string;
  sentiment: string | null;
  posted_at: string;
  received_at: string;
  edited_at: string | null;
  deleted_at: string | null;
  reply: string | null;
  replied_by: string | null;
  replied_at: string | null;
  story_id: string | null;
}

export interface MentionServiceTable {
  mention_id: string;
  service_id: string;
}

export interface HotspotTable {
  id: string;
  org_id: string;
  service_id: string;
  key: string;
  kind: 'theme' | 'duplicate';
  theme: string | null;
  count: number;
  expected: number;
  detected_at: string;
  cooldown_until: string;
}

export interface HotspotItemTable {
  hotspot_id: string;
  item_kind: 'story' | 'mention';
  item_id: string;
}

export interface HotspotNotificationTable {
  hotspot_id: string;
  user_id: string;
  created_at: string;
  read_at: string | null;
}

export interface Database {
  channels: ChannelTable;
  mentions: MentionTable;
  mention_services: MentionServiceTable;
  hotspots: HotspotTable;
  hotspot_items: HotspotItemTable;
  hotspot_notifications: HotspotNotificationTable;
  author_access: AuthorAccessTable;
  author_links: AuthorLinkTable;
  author_replies: AuthorReplyTable;
  alert_subscriptions: AlertSubscriptionTable;
  notifications: NotificationTable;
  response_helpful: ResponseHelpfulTable;
  response_templates: ResponseTemplateTable;
  story_handling: StoryHandlingTable;
  story_notes: StoryNoteTable;
  responses: ResponseTable;
  theme_corrections: ThemeCorrectionTable;
  stories: StoryTable;
  story_intake: StoryIntakeTable;
  story_services: StoryServiceTable;
  story_tags: StoryTagTable;
  story_findings: StoryFindingTable;
  story_experienced: StoryExperiencedTable;
  story_drafts: StoryDraftTable;
  settings: SettingTable;
  organisations: OrganisationTable;
  services: ServiceTable;
  service_hashtags: ServiceHashtagTable;
  users: UserTable;
  memberships: MembershipTable;
  sessions: SessionTable;
  api_keys: ApiKeyTable;
  events: EventTable;
  jobs: JobTable;
  mail: MailTable;
}
