// mock: the gateway answers with a static response (status, headers, a JSON or text body) without calling
// the upstream — for every request of the route, or only for the listed methods and paths. Runs after
// access checks, so a mocked route still authenticates and authorizes its callers.
import { Type, type Static } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import { MAX_ROUTE_REGEX_LENGTH, routeRegexProblem } from '../schemas/route-rules.js';
import { FRAMING_HEADERS } from './transform-ops.js';
import type { PluginType } from './types.js';

export const MAX_MOCK_BODY_CHARS = 1 << 20;

export const MockConfig = Type.Object(
  {
    status: Type.Integer({ minimum: 200, maximum: 599, default: 200 }),
    /** Response headers, name → value (content-type defaults from the body's kind). */
    headers: Type.Record(Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$" }), Type.String({ maxLength: 4096 }), { maxProperties: 64, additionalProperties: false, default: {} }),
    /** A JSON body (any JSON value), sent as application/json. */
    json: Type.Optional(Type.Unknown()),
    /** A text body, sent as text/plain; charset=utf-8. */
    text: Type.Optional(Type.String({ maxLength: MAX_MOCK_BODY_CHARS })),
    /** Only these methods are mocked (upper-case); empty: every method. */
    methods: Type.Array(Type.String({ pattern: '^[A-Z]{1,16}$' }), { maxItems: 16, uniqueItems: true, default: [] }),
    /** Only paths matching one of these JS regular expressions are mocked; empty: every path. */
    paths: Type.Array(Type.String({ minLength: 1, maxLength: MAX_ROUTE_REGEX_LENGTH }), { maxItems: 32, default: [] }),
  },
  { additionalProperties: false },
);
export type MockConfig = Static<typeof MockConfig>;

export function mockProblems(cfg: MockConfig): FieldError[] {
  const out: FieldError[] = [];
  const hasBody = cfg.json !== undefined || cfg.text !== undefined;
  if (cfg.json !== undefined && cfg.text !== undefined) out.push({ path: '/text', message: 'a mock has a json or a text body, not both' });
  if (hasBody && (cfg.status === 204 || cfg.status === 205 || cfg.status === 304)) out.push({ path: '/status', message: `a ${cfg.status} response has no body; remove json/text or choose another status` });
  if (cfg.json !== undefined) {
    let size = 0;
    try {
      size = JSON.stringify(cfg.json)?.length ?? 0;
    } catch {
      out.push({ path: '/json', message: 'is not a JSON value' });
    }
    if (size > MAX_MOCK_BODY_CHARS) out.push({ path: '/json', message: `is larger than ${MAX_MOCK_BODY_CHARS} characters as JSON` });
  }
  for (const name of Object.keys(cfg.headers)) {
    if (FRAMING_HEADERS.includes(name.toLowerCase())) out.push({ path: `/headers/${name}`, message: `${name.toLowerCase()} frames the message and is set by the gateway` });
  }
  cfg.paths.forEach((p, i) => {
    const problem = routeRegexProblem(p);
    if (problem) out.push({ path: `/paths/${i}`, message: problem });
  });
  return out;
}

export const mockPlugin: PluginType<typeof MockConfig> = {
  name: 'mock',
  description: 'Answers with a static response (status, headers, JSON or text body) without calling the upstream; optionally only for some methods and paths.',
  config: MockConfig,
  scopes: ['global', 'service', 'route'],
  phase: 'access',
  problems: mockProblems,
};
