// acl: consumer-group allow/deny lists compiled to Sets; the check walks the consumer's groups (64 at most).
// Runs after authentication. Without an identified consumer the answer is 403 TP_ERR_ACL_FORBIDDEN, not
// 401: the client cannot fix it by sending credentials (no authentication plugin on the route identified a
// consumer: a configuration matter), and a missing or bad credential is already answered 401 by the
// authentication plugin before the ACL runs.
import { TurnpikeError, aclProblems, type AclConfig } from '@turnpike/common';

export interface AclPolicy {
  /** Lower-case group ids; null when the list is empty (every group passes this side). */
  allow: ReadonlySet<string> | null;
  deny: ReadonlySet<string> | null;
  /** Answers for consumers in many groups, by their group_ids array (a consumer update brings a new array). */
  readonly memo: WeakMap<readonly string[], AclDenial | null>;
}

export interface AclDenial {
  code: 'TP_ERR_ACL_FORBIDDEN';
  status: 403;
  message: string;
}

export const ACL_NO_CONSUMER: AclDenial = Object.freeze({
  code: 'TP_ERR_ACL_FORBIDDEN',
  status: 403,
  message: 'access is restricted to consumer groups: authentication is required first (no consumer was identified)',
});
export const ACL_NOT_ALLOWED: AclDenial = Object.freeze({ code: 'TP_ERR_ACL_FORBIDDEN', status: 403, message: "the consumer's groups are not allowed here" });
export const ACL_DENIED: AclDenial = Object.freeze({ code: 'TP_ERR_ACL_FORBIDDEN', status: 403, message: 'the consumer belongs to a group that is denied here' });

/** Throws TP_ERR_VALIDATION (field paths relative to the config) when neither list names a group. */
export function compileAcl(cfg: AclConfig): AclPolicy {
  const problems = aclProblems(cfg);
  if (problems.length > 0) throw new TurnpikeError('TP_ERR_VALIDATION', `${problems[0]!.path} ${problems[0]!.message}`, problems);
  return {
    allow: cfg.allow.length > 0 ? new Set(cfg.allow.map((g) => g.toLowerCase())) : null,
    deny: cfg.deny.length > 0 ? new Set(cfg.deny.map((g) => g.toLowerCase())) : null,
    memo: new WeakMap(),
  };
}

/**
 * The per-request check: null to admit, else the denial (403). `consumerId`: '' when no consumer was
 * identified; `groupIds`: the consumer's `group_ids`, lower-case (as the control plane stores ids).
 * Deny wins; a non-empty allow list needs at least one shared group. Allocates nothing (a consumer in more
 * than one group: one memo entry per policy the first time). `groupIds` must not be mutated in place.
 */
export function checkAcl(policy: AclPolicy, consumerId: string, groupIds: readonly string[]): AclDenial | null {
  if (consumerId === '') return ACL_NO_CONSUMER;
  // One group: two Set lookups at most. More: one WeakMap lookup, the answer computed once per array.
  if (groupIds.length <= MEMO_AFTER) return decide(policy, groupIds);
  let answer = policy.memo.get(groupIds);
  if (answer === undefined) policy.memo.set(groupIds, (answer = decide(policy, groupIds)));
  return answer;
}

const MEMO_AFTER = 1;

function decide(policy: AclPolicy, groupIds: readonly string[]): AclDenial | null {
  const { allow, deny } = policy;
  let allowed = allow === null;
  for (let i = 0; i < groupIds.length; i++) {
    const g = groupIds[i]!;
    if (deny !== null && deny.has(g)) return ACL_DENIED;
    if (!allowed && allow!.has(g)) allowed = true;
  }
  return allowed ? null : ACL_NOT_ALLOWED;
}
