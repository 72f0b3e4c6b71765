// A small OpenAPI 3 reference renderer (instead of swagger-ui or redoc, which weigh more than the whole
// portal): operations grouped by path with their parameters, request body and responses, and schemas shown
// as nested property lists with local `$ref`s resolved (cycles cut at a fixed depth).
import type { ComponentChildren } from 'preact';
import { DataTable } from '../shared/table.js';

// OpenAPI documents are arbitrary JSON: read through this loose type, guarded at each access.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'] as const;

export interface Param {
  name: string;
  in: string;
  required: boolean;
  description: string;
  schema: Json;
  example?: unknown;
}

export interface Operation {
  id: string;
  method: string;
  path: string;
  summary: string;
  description: string;
  deprecated: boolean;
  params: Param[];
  body: { required: boolean; content: Record<string, Json> } | null;
  responses: Array<{ code: string; description: string; content: Record<string, Json> }>;
}

/** Follows a local `$ref` (`#/components/schemas/Order`); anything else is returned as is. */
export function resolve(doc: Json, node: Json, depth = 0): Json {
  if (!node || typeof node !== 'object' || typeof node.$ref !== 'string' || depth > 16) return node;
  const ref: string = node.$ref;
  if (!ref.startsWith('#/')) return node;
  let cur: Json = doc;
  for (const part of ref.slice(2).split('/')) cur = cur?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return cur === undefined ? node : resolve(doc, cur, depth + 1);
}

export function operations(doc: Json): Operation[] {
  const out: Operation[] = [];
  const paths = doc && typeof doc.paths === 'object' ? doc.paths : {};
  for (const [path, rawItem] of Object.entries<Json>(paths)) {
    const item = resolve(doc, rawItem) ?? {};
    for (const method of METHODS) {
      const op = item[method];
      if (!op || typeof op !== 'object') continue;
      const byKey = new Map<string, Param>();
      for (const raw of [...(Array.isArray(item.parameters) ? item.parameters : []), ...(Array.isArray(op.parameters) ? op.parameters : [])]) {
        const p = resolve(doc, raw);
        if (!p || typeof p.name !== 'string') continue;
        byKey.set(`${p.in}:${p.name}`, { name: p.name, in: String(p.in ?? 'query'), required: p.required === true || p.in === 'path', description: String(p.description ?? ''), schema: p.schema, example: p.example });
      }
      const rb = resolve(doc, op.requestBody);
      const responses = Object.entries<Json>(op.responses ?? {}).map(([code, r]) => {
        const res = resolve(doc, r) ?? {};
        return { code, description: String(res.description ?? ''), content: res.content ?? {} };
      });
      out.push({
        id: `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, '-'),
        method: method.toUpperCase(),
        path,
        summary: String(op.summary ?? op.operationId ?? ''),
        description: String(op.description ?? ''),
        deprecated: op.deprecated === true,
        params: [...byKey.values()],
        body: rb && rb.content ? { required: rb.required === true, content: rb.content } : null,
        responses,
      });
    }
  }
  return out;
}

function typeLabel(s: Json): string {
  if (!s || typeof s !== 'object') return 'any';
  let t = Array.isArray(s.type) ? s.type.join(' | ') : (s.type ?? (s.properties ? 'object' : s.items ? 'array' : ''));
  if (s.format) t += ` (${s.format})`;
  if (s.nullable) t += ' | null';
  return t || 'any';
}

function refName(node: Json): string | null {
  return node && typeof node.$ref === 'string' ? node.$ref.split('/').pop() : null;
}

const MAX_DEPTH = 6;

/** A schema as a nested list: type, constraints, description, properties (required ones marked). */
export function SchemaView(props: { doc: Json; schema: Json; depth?: number }): ComponentChildren {
  const depth = props.depth ?? 0;
  const name = refName(props.schema);
  const s = resolve(props.doc, props.schema);
  if (!s || typeof s !== 'object') return <span class="muted">any</span>;
  if (depth > MAX_DEPTH) return <span class="muted">{name ?? typeLabel(s)} …</span>;
  const combos = (['allOf', 'oneOf', 'anyOf'] as const).filter((k) => Array.isArray(s[k]));
  const required = new Set<string>(Array.isArray(s.required) ? s.required : []);
  return (
    <span class="schema">
      {name ? <span class="schema-name">{name} </span> : null}
      <span class="schema-type">{typeLabel(s)}</span>
      {Array.isArray(s.enum) ? <span class="muted"> one of {s.enum.map((v: unknown) => JSON.stringify(v)).join(', ')}</span> : null}
      {s.description ? <span class="schema-desc"> — {String(s.description)}</span> : null}
      {combos.map((k) => (
        <div class="schema-combo">
          <span class="muted">{k}:</span>
          <ul>
            {s[k].map((sub: Json) => (
              <li>
                <SchemaView doc={props.doc} schema={sub} depth={depth + 1} />
              </li>
            ))}
          </ul>
        </div>
      ))}
      {s.items ? (
        <div>
          <span class="muted">items: </span>
          <SchemaView doc={props.doc} schema={s.items} depth={depth + 1} />
        </div>
      ) : null}
      {s.properties && typeof s.properties === 'object' ? (
        <ul class="props">
          {Object.entries<Json>(s.properties).map(([k, v]) => (
            <li>
              <code>{k}</code>
              {required.has(k) ? <abbr title="required" class="req"> *</abbr> : null}: <SchemaView doc={props.doc} schema={v} depth={depth + 1} />
            </li>
          ))}
        </ul>
      ) : null}
    </span>
  );
}

/** A sample value for a schema (the "try it" body's starting point): the example when given, else built from the types. */
export function sample(doc: Json, schema: Json, depth = 0): unknown {
  const s = resolve(doc, schema);
  if (!s || typeof s !== 'object' || depth > MAX_DEPTH) return null;
  if (s.example !== undefined) return s.example;
  if (s.default !== undefined) return s.default;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  if (Array.isArray(s.allOf)) return Object.assign({}, ...s.allOf.map((x: Json) => sample(doc, x, depth + 1)));
  if (Array.isArray(s.oneOf) || Array.isArray(s.anyOf)) return sample(doc, (s.oneOf ?? s.anyOf)[0], depth + 1);
  const t = Array.isArray(s.type) ? s.type[0] : s.type;
  if (t === 'object' || s.properties) {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries<Json>(s.properties ?? {})) o[k] = sample(doc, v, depth + 1);
    return o;
  }
  if (t === 'array') return [sample(doc, s.items, depth + 1)];
  if (t === 'integer' || t === 'number') return 0;
  if (t === 'boolean') return false;
  if (t === 'string') return s.format === 'date-time' ? new Date(0).toISOString() : '';
  return null;
}

function Content(props: { doc: Json; content: Record<string, Json> }) {
  const entries = Object.entries(props.content);
  if (entries.length === 0) return null;
  return (
    <dl class="content">
      {entries.map(([type, media]) => (
        <>
          <dt>
            <code>{type}</code>
          </dt>
          <dd>{media?.schema ? <SchemaView doc={props.doc} schema={media.schema} /> : <span class="muted">no schema</span>}</dd>
        </>
      ))}
    </dl>
  );
}

/** One operation's reference: parameters, request body, responses; `children` is placed below (try it). */
export function OperationView(props: { doc: Json; op: Operation; children?: ComponentChildren }) {
  const { op, doc } = props;
  return (
    <section class="operation" id={op.id} aria-labelledby={`${op.id}-h`}>
      <h3 id={`${op.id}-h`}>
        <span class={`method method-${op.method.toLowerCase()}`}>{op.method}</span> <code>{op.path}</code>
        {op.deprecated ? <span class="badge badge-warn">deprecated</span> : null}
      </h3>
      {op.summary ? <p>{op.summary}</p> : null}
      {op.description && op.description !== op.summary ? <p class="muted">{op.description}</p> : null}
      {op.params.length > 0 ? (
        <DataTable
          rows={op.params}
          caption={`Parameters of ${op.method} ${op.path}`}
          captionHidden
          columns={[
            {
              label: 'Parameter',
              cell: (p) => (
                <>
                  <code>{p.name}</code>
                  {p.required ? <abbr title="required" class="req"> *</abbr> : null}
                </>
              ),
            },
            { label: 'In', cell: (p) => p.in },
            { label: 'Type', cell: (p) => <SchemaView doc={doc} schema={p.schema} /> },
            { label: 'Description', cell: (p) => p.description },
          ]}
        />
      ) : null}
      {op.body ? (
        <div>
          <h4>Request body{op.body.required ? ' (required)' : ''}</h4>
          <Content doc={doc} content={op.body.content} />
        </div>
      ) : null}
      <h4>Responses</h4>
      <dl class="responses">
        {op.responses.map((r) => (
          <>
            <dt>
              <code>{r.code}</code> {r.description}
            </dt>
            <dd>
              <Content doc={doc} content={r.content} />
            </dd>
          </>
        ))}
      </dl>
      {props.children}
    </section>
  );
}
