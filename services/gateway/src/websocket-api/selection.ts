// The route selection expression of a WebSocket API, compiled once per config: `$request.body.a.b` reads a
// JSON message's `a.b`; `$default` sends every message to `$default`. A message that is not JSON, has no such
// field, or whose value is not a scalar selects `$default` (as AWS does).
import { parseRouteSelectionExpression } from '@turnpike/common';

/** Picks a message's route key: the key the expression yields, or null (then `$default`). */
export type RouteSelector = (text: string | null) => string | null;

const ALWAYS_DEFAULT: RouteSelector = () => null;

/** Compiles an expression (validated by the control plane); null for one this node cannot read. */
export function compileRouteSelector(expression: string): RouteSelector | null {
  const path = parseRouteSelectionExpression(expression);
  if (path === null) return null;
  if (path.length === 0) return ALWAYS_DEFAULT;
  return (text) => {
    // Cheap test first: most frames of a JSON API are objects; anything else cannot have the field.
    if (text === null || text.length < 2 || text.charCodeAt(0) !== 123) return null;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return null;
    }
    for (const k of path) {
      if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, k)) return null;
      v = (v as Record<string, unknown>)[k];
    }
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    return null;
  };
}
