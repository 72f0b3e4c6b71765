// A form generated from a request-body schema of the admin API: one labelled input per property (selects for
// enums and references, checkboxes for booleans, comma-separated lists, a JSON editor for nested objects),
// checked client-side against the same schema, and showing the API's field errors (`error.fields[].path`,
// JSON pointers) next to the field they point into.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError } from '../shared/api.js';
import { errorText } from './ui.js';
import { api, state } from './state.js';
import { fieldKind, fillDefaults, nonNull, topField, validate, type FieldError, type FieldKind, type Schema } from './schema.js';

/** Fields naming another entity by id, edited with a select of that collection's entities. */
export const REFERENCES: Record<string, { path: string; label: string }> = {
  upstream_id: { path: '/v1/upstreams', label: 'name' },
  service_id: { path: '/v1/services', label: 'name' },
  consumer_id: { path: '/v1/consumers', label: 'username' },
  plan_id: { path: '/v1/plans', label: 'name' },
  provider_id: { path: '/v1/ai-providers', label: 'name' },
  user_id: { path: '/v1/users', label: 'name' },
  route_id: { path: '/v1/routes', label: 'name' },
};

type Raw = string | boolean | string[];

interface Field {
  name: string;
  schema: Schema;
  kind: FieldKind;
  required: boolean;
  nullable: boolean;
}

function fieldsOf(schema: Schema): Field[] {
  const req = new Set(schema.required ?? []);
  const out = Object.entries(schema.properties ?? {}).map(([name, s]) => {
    const { nullable } = nonNull(s);
    return { name, schema: s, kind: fieldKind(name, s), required: req.has(name), nullable };
  });
  // Required fields first, plain inputs before JSON editors; otherwise the schema's order.
  const rank = (f: Field) => (f.required ? 0 : f.kind.kind === 'json' ? 2 : 1);
  return out.sort((a, b) => rank(a) - rank(b));
}

function toRaw(f: Field, v: unknown): Raw {
  const k = f.kind.kind;
  if (k === 'boolean') return v === undefined ? Boolean(nonNull(f.schema).schema.default ?? false) : Boolean(v);
  if (k === 'multi') return Array.isArray(v) ? v.map(String) : [];
  if (v === undefined || v === null) return '';
  if (k === 'list') return Array.isArray(v) ? v.join(', ') : '';
  if (k === 'json') return JSON.stringify(v, null, 2);
  return String(v);
}

type Parsed = { value?: unknown; error?: string };

function parse(f: Field, raw: Raw): Parsed {
  const k = f.kind.kind;
  if (k === 'boolean') return { value: raw };
  if (k === 'multi') return { value: raw };
  const text = String(raw);
  if (text.trim() === '') return {};
  switch (f.kind.kind) {
    case 'integer':
      return /^-?\d+$/.test(text.trim()) ? { value: Number(text.trim()) } : { error: 'must be a whole number' };
    case 'number':
      return Number.isFinite(Number(text)) ? { value: Number(text) } : { error: 'must be a number' };
    case 'list': {
      const items = text.split(/[,\n]/).map((s) => s.trim()).filter((s) => s !== '');
      return { value: f.kind.item === 'integer' ? items.map(Number) : items };
    }
    case 'json':
      try {
        return { value: JSON.parse(text) };
      } catch (e) {
        return { error: `is not valid JSON: ${(e as Error).message}` };
      }
    default:
      return { value: text };
  }
}

export interface SchemaFormProps {
  schema: Schema;
  mode: 'create' | 'update';
  initial?: Record<string, unknown> | undefined;
  /** Fields not shown (e.g. a parent id that the page fixes). */
  omit?: string[];
  submitLabel?: string;
  onSubmit: (body: Record<string, unknown>) => Promise<void>;
  onCancel?: () => void;
}

export function SchemaForm(props: SchemaFormProps) {
  const doc = state.doc!;
  const fields = useMemo(() => fieldsOf(props.schema).filter((f) => !props.omit?.includes(f.name)), [props.schema]);
  const initialRaw = useMemo(() => Object.fromEntries(fields.map((f) => [f.name, toRaw(f, props.initial?.[f.name])])), [fields, props.initial]);
  const [raw, setRaw] = useState<Record<string, Raw>>(initialRaw);
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [formError, setFormError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [refs, setRefs] = useState<Record<string, Array<{ id: string; label: string }>>>({});

  useEffect(() => {
    for (const f of fields) {
      const ref = REFERENCES[f.name];
      if (!ref || f.kind.kind !== 'string') continue;
      api.get<{ data: Array<Record<string, unknown>> }>(ref.path, { limit: 1000 }).then(
        (r) => setRefs((m) => ({ ...m, [f.name]: r.data.map((e) => ({ id: String(e.id), label: String(e[ref.label] ?? e.id) })) })),
        () => undefined, // no read access to that collection: the field stays a text input
      );
    }
  }, [fields]);

  const body = (): { body: Record<string, unknown>; problems: FieldError[] } => {
    const out: Record<string, unknown> = {};
    const problems: FieldError[] = [];
    for (const f of fields) {
      const r = raw[f.name]!;
      if (props.mode === 'update' && JSON.stringify(r) === JSON.stringify(initialRaw[f.name])) continue;
      const p = parse(f, r);
      if (p.error) {
        problems.push({ path: `/${f.name}`, message: p.error });
        continue;
      }
      if (p.value === undefined) {
        // Emptied on edit: null clears a nullable field; other fields cannot be unset by PATCH.
        if (props.mode === 'update' && f.nullable) out[f.name] = null;
        continue;
      }
      if (props.mode === 'create') {
        if (f.kind.kind === 'boolean' && p.value === Boolean(nonNull(f.schema).schema.default ?? false)) continue;
        if (f.kind.kind === 'multi' && (p.value as string[]).length === 0) continue;
      }
      out[f.name] = p.value;
    }
    return { body: out, problems };
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    const { body: b, problems } = body();
    // Checked as the API checks it: defaults filled first (on a copy; only what the user gave is sent).
    const filled = structuredClone(b);
    fillDefaults(doc, props.schema, filled);
    const all = [...problems, ...validate(doc, props.schema, filled).filter((v) => !problems.some((p) => topField(p.path) === topField(v.path)))];
    setErrors(all);
    setFormError(null);
    if (all.length > 0) {
      focusFirstError(all);
      return;
    }
    setBusy(true);
    try {
      await props.onSubmit(b);
    } catch (err) {
      if (err instanceof ApiError && err.fields.length > 0) {
        setErrors(err.fields);
        focusFirstError(err.fields);
      }
      setFormError(err);
    } finally {
      setBusy(false);
    }
  };

  const errorsFor = (name: string) => errors.filter((e) => topField(e.path) === name);
  const formLevel = errors.filter((e) => !fields.some((f) => f.name === topField(e.path)));

  return (
    <form class="schema-form" onSubmit={submit} noValidate>
      {formError ? (
        <p class="error" role="alert">
          {errorText(formError)}
        </p>
      ) : null}
      {formLevel.map((e) => (
        <p class="error" key={e.path}>
          {e.path || 'body'}: {e.message}
        </p>
      ))}
      {fields.map((f) => (
        <FieldInput key={f.name} field={f} value={raw[f.name]!} errors={errorsFor(f.name)} refs={refs[f.name]} onChange={(v) => setRaw((m) => ({ ...m, [f.name]: v }))} />
      ))}
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy}>
          {props.submitLabel ?? (props.mode === 'create' ? 'Create' : 'Save')}
        </button>
        {props.onCancel ? (
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        ) : null}
      </div>
    </form>
  );
}

function focusFirstError(errs: FieldError[]) {
  const name = topField(errs[0]?.path ?? '');
  queueMicrotask(() => (document.getElementById(`f-${name}`) as HTMLElement | null)?.focus());
}

function FieldInput(props: { field: Field; value: Raw; errors: FieldError[]; refs: Array<{ id: string; label: string }> | undefined; onChange: (v: Raw) => void }) {
  const { field: f, value, errors } = props;
  const id = `f-${f.name}`;
  const errId = `${id}-err`;
  const s = nonNull(f.schema).schema;
  const hint = [s.description, f.kind.kind === 'list' ? 'comma-separated' : '', f.kind.kind === 'json' ? 'JSON' : '', s.default !== undefined && f.kind.kind !== 'boolean' ? `default ${JSON.stringify(s.default)}` : '']
    .filter(Boolean)
    .join('; ');
  const invalid = errors.length > 0;
  const common = { id, name: f.name, 'aria-invalid': invalid ? ('true' as const) : undefined, 'aria-describedby': invalid ? errId : undefined, 'aria-required': f.required ? ('true' as const) : undefined };
  const input = (ev: Event) => props.onChange((ev.currentTarget as HTMLInputElement).value);
  let control;
  const k = f.kind;
  if (k.kind === 'boolean') {
    control = <input type="checkbox" {...common} checked={value as boolean} onChange={(ev) => props.onChange((ev.currentTarget as HTMLInputElement).checked)} />;
  } else if (k.kind === 'enum') {
    control = (
      <select {...common} value={value as string} onChange={input}>
        <option value="">{f.required ? '— choose —' : '(default)'}</option>
        {k.values.map((v) => (
          <option key={v} value={v}>
            {v}
          </option>
        ))}
      </select>
    );
  } else if (k.kind === 'multi') {
    const set = new Set(value as string[]);
    control = (
      <fieldset class="multi" id={id} aria-labelledby={`${id}-label`} aria-describedby={invalid ? errId : undefined}>
        {k.values.map((v) => (
          <label key={v} class="check">
            <input
              type="checkbox"
              name={f.name}
              value={v}
              checked={set.has(v)}
              onChange={(ev) => {
                const on = (ev.currentTarget as HTMLInputElement).checked;
                props.onChange(k.values.filter((x) => (x === v ? on : set.has(x))));
              }}
            />
            {v}
          </label>
        ))}
      </fieldset>
    );
  } else if (k.kind === 'json' || k.kind === 'text') {
    control = <textarea {...common} rows={k.kind === 'json' ? 4 : 3} spellcheck={false} value={value as string} onInput={input} />;
  } else if (k.kind === 'string' && props.refs) {
    control = (
      <select {...common} value={value as string} onChange={input}>
        <option value="">{f.required ? '— choose —' : '(none)'}</option>
        {props.refs.map((r) => (
          <option key={r.id} value={r.id}>
            {r.label}
          </option>
        ))}
      </select>
    );
  } else {
    control = /^(secret|password|api_key)$/.test(f.name) ? (
      <input type="password" autoComplete="off" {...common} value={value as string} onInput={input} />
    ) : (
      <input type="text" inputMode={k.kind === 'integer' ? 'numeric' : k.kind === 'number' ? 'decimal' : undefined} autoComplete="off" {...common} value={value as string} onInput={input} />
    );
  }
  return (
    <div class={`field${invalid ? ' invalid' : ''}${k.kind === 'boolean' ? ' field-check' : ''}`}>
      {k.kind === 'multi' ? (
        <span class="label" id={`${id}-label`}>
          {f.name}
          {f.required ? <span class="req"> (required)</span> : null}
        </span>
      ) : (
        <label for={id}>
          {f.name}
          {f.required ? <span class="req"> (required)</span> : null}
        </label>
      )}
      {control}
      {hint ? <small class="muted">{hint}</small> : null}
      {invalid ? (
        <div class="field-error" id={errId}>
          {errors.map((e) => (
            <div key={e.path + e.message}>
              {e.path.split('/').length > 2 ? `${e.path}: ` : ''}
              {e.message}
            </div>
          ))}
        </div>
      ) : null}
    </div>
  );
}
