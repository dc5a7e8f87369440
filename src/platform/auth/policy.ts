/**
 * Who may do what, declared in one table. `can` fails closed: an action not listed, an anonymous
 * actor or a resource without an organisation is refused.
 */
export type OrgRole = 'admin' | 'responder' | 'leader';
export type PlatformRole = 'moderator' | 'admin';

export interface Actor {
  userId: string;
  name: string;
  email: string;
  platformRole: PlatformRole | null;
  /** org id -> roles held there */
  orgRoles: Map<string, Set<OrgRole>>;
}

/** What a check is about: the organisations a resource belongs to (a story may name several). */
export interface Resource {
  orgIds: readonly string[];
}

type Rule =
  | { platform: PlatformRole[] }
  | { org: OrgRole[]; platform?: PlatformRole[] }
  | { staff: true };

export const rules = {
  'moderate': { platform: ['moderator', 'admin'] },
  'manage-platform': { platform: ['admin'] },
  'manage-organisation': { org: ['admin'], platform: ['admin'] },
  'respond': { org: ['responder', 'admin'] },
  'read-inbox': { org: ['responder', 'leader', 'admin'], platform: ['moderator', 'admin'] },
  'watch-live': { org: ['leader', 'responder', 'admin'], platform: ['admin'] },
  'take-story-by-hand': { org: ['responder', 'admin'], platform: ['moderator', 'admin'] },
  'correct-themes': { org: ['responder', 'leader', 'admin'], platform: ['moderator', 'admin'] },
  'use-staff-pages': { staff: true },
} as const satisfies Record<string, Rule>;

export type Action = keyof typeof rules;

export function can(actor: Actor | null | undefined, action: Action, resource?: Resource): boolean {
  if (!actor) return false;
  const rule: Rule | undefined = rules[action];
  if (!rule) return false;
  if ('staff' in rule) return actor.platformRole !== null || actor.orgRoles.size > 0;
  if (rule.platform && actor.platformRole && (rule.platform as readonly string[]).includes(actor.platformRole)) return true;
  if ('org' in rule) {
    if (!resource || resource.orgIds.length === 0) return false;
    return resource.orgIds.some((orgId) => {
      const held = actor.orgRoles.get(orgId);
      return !!held && rule.org.some((r) => held.has(r));
    });
  }
  return false;
}

/** The organisations where the actor holds any of the given roles. */
export function orgsWhere(actor: Actor, roles: readonly OrgRole[]): string[] {
  return [...actor.orgRoles].filter(([, held]) => roles.some((r) => held.has(r))).map(([id]) => id);
}
