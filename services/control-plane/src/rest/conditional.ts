// HTTP conditional requests over entity versions: `ETag: "<version>"` (strong) on reads and writes,
// `If-Match` on PATCH/PUT/DELETE (412 when stale), `If-None-Match` on GET (304 when unchanged).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { versionOf, type WriteOptions } from '../service/index.js';

export function etagOf(version: number): string {
  return `"${version}"`;
}

/** Sets the ETag header from the version the service layer attached to `entity` (when it did). */
export function setEtag(reply: FastifyReply, entity: object): void {
  const v = versionOf(entity);
  if (v !== undefined) void reply.header('etag', etagOf(v));
}

function headerValue(req: FastifyRequest, name: string): string | undefined {
  const h = req.headers[name];
  return Array.isArray(h) ? h.join(', ') : h;
}

interface EntityTag {
  weak: boolean;
  opaque: string;
}

/** The entity tags of an If-Match / If-None-Match value, or '*' (RFC 9110 §8.8.3); junk is skipped. */
function parseTags(value: string): EntityTag[] | '*' {
  if (value.trim() === '*') return '*';
  const tags: EntityTag[] = [];
  for (const m of value.matchAll(/(W\/)?"([^"]*)"/g)) tags.push({ weak: m[1] !== undefined, opaque: m[2]! });
  return tags;
}

/**
 * If-Match → the versions a write may proceed from. Strong comparison, as RFC 9110 requires for
 * If-Match: weak tags and tags that are not versions never match, so a header with none of ours makes
 * the write fail with 412. `*` (or no header) is unconditional.
 */
export function writeOptions(req: FastifyRequest): WriteOptions {
  const value = headerValue(req, 'if-match');
  if (value === undefined) return {};
  const tags = parseTags(value);
  if (tags === '*') return {};
  const versions = tags.filter((t) => !t.weak && /^\d{1,15}$/.test(t.opaque)).map((t) => Number(t.opaque));
  return { expectedVersions: versions };
}

/** If-None-Match on a GET: true when the client's copy is current (weak comparison), so 304 applies. */
export function notModified(req: FastifyRequest, entity: object): boolean {
  const value = headerValue(req, 'if-none-match');
  const v = versionOf(entity);
  if (value === undefined || v === undefined) return false;
  const tags = parseTags(value);
  return tags === '*' || tags.some((t) => t.opaque === String(v));
}

/** Replies with the entity, its ETag, and 304 instead when If-None-Match matched. */
export function replyEntity(req: FastifyRequest, reply: FastifyReply, entity: object): FastifyReply {
  setEtag(reply, entity);
  if (notModified(req, entity)) return reply.code(304).send();
  return reply.send(entity);
}
