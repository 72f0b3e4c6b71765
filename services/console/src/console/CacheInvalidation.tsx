// Cache invalidation (POST /v1/cache/invalidations): drop the proxy-cache entries of a service, of a route,
// or under a path prefix, on every gateway node. A page of its own (any of the three) and a dialog opened
// from a service's or a route's row (that one). The API answers once the invalidation is published to the
// nodes; it does not count which nodes applied it, so the answer is shown beside the number of healthy
// nodes the cluster view reports now.
import { useState } from 'preact/hooks';
import { api } from './state.js';
import { ApiError, type FieldError } from '../shared/api.js';
import { Dialog, ErrorBox } from './ui.js';
import { useNames } from './ResourcePage.js';
import type { RowDialogProps } from './row-actions.js';

type By = 'service_id' | 'route_id' | 'prefix';

interface Accepted {
  id: string;
  status: 'accepted';
  service_id?: string;
  route_id?: string;
  prefix?: string;
}

interface Outcome {
  answer: Accepted;
  /** Healthy / all gateway nodes per /v1/cluster/nodes right after; null when that could not be read. */
  nodes: { healthy: number; total: number } | null;
}

const BY_LABEL: Record<By, string> = { service_id: 'a service', route_id: 'a route', prefix: 'a path prefix' };

async function invalidate(body: Partial<Record<By, string>>): Promise<Outcome> {
  const answer = await api.post<Accepted>('/v1/cache/invalidations', body);
  const nodes = await api.get<{ data: Array<{ status: string }> }>('/v1/cluster/nodes').then(
    (r) => ({ healthy: r.data.filter((n) => n.status === 'healthy').length, total: r.data.length }),
    () => null,
  );
  return { answer, nodes };
}

/** The API's field errors by top-level field ('' for the body as a whole). */
function byField(fields: FieldError[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields) {
    const key = f.path.split('/')[1] ?? '';
    out[key] = out[key] ? `${out[key]}; ${f.message}` : f.message;
  }
  return out;
}

function Answer(props: { outcome: Outcome; names: Record<string, Map<string, string>> }) {
  const { answer, nodes } = props.outcome;
  const target = answer.service_id
    ? `service ${props.names.service_id?.get(answer.service_id) ?? answer.service_id}`
    : answer.route_id
      ? `route ${props.names.route_id?.get(answer.route_id) ?? answer.route_id}`
      : `paths under ${answer.prefix ?? ''}`;
  return (
    <div class="notice" role="status" data-testid="invalidation-result">
      <p>
        Accepted: the cached responses of {target} are dropped on every gateway node that receives invalidation <code>{answer.id}</code>.
      </p>
      <p class="muted">
        {nodes
          ? `Published to the cluster bus; ${nodes.healthy} of ${nodes.total} gateway node${nodes.total === 1 ? '' : 's'} healthy now (the API does not count receipts: a node that is down holds no entries).`
          : 'Published to the cluster bus (the API does not count receipts).'}
      </p>
    </div>
  );
}

/** `fixed`: the service or route the dialog was opened on (no choice of target then). */
function InvalidateForm(props: { fixed?: { by: 'service_id' | 'route_id'; id: string; label: string } }) {
  const names = useNames(['service_id', 'route_id']);
  const [by, setBy] = useState<By>(props.fixed?.by ?? 'prefix');
  const [values, setValues] = useState<Record<By, string>>({ service_id: '', route_id: '', prefix: '' });
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const fieldErrors = error instanceof ApiError ? byField(error.fields) : {};
  const set = (k: By) => (e: Event) => setValues((v) => ({ ...v, [k]: (e.currentTarget as HTMLInputElement | HTMLSelectElement).value }));
  const fieldError = (k: string) =>
    fieldErrors[k] ? (
      <div class="field-error" id={`cache-${k}-err`}>
        {fieldErrors[k]}
      </div>
    ) : null;
  const invalid = (k: By) => (fieldErrors[k] ? { 'aria-invalid': 'true' as const, 'aria-describedby': `cache-${k}-err` } : {});

  return (
    <form
      class="cache-form"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        setOutcome(null);
        try {
          // What the operator chose is sent as typed: the API checks it (one of the three, the prefix's
          // leading "/", the tenant's own service or route) and its field errors are shown here.
          setOutcome(await invalidate(props.fixed ? { [props.fixed.by]: props.fixed.id } : { [by]: values[by] }));
        } catch (err) {
          setError(err);
        } finally {
          setBusy(false);
        }
      }}
    >
      {props.fixed ? (
        <p>
          Drop every cached response of {props.fixed.by === 'service_id' ? 'the service' : 'the route'} <strong>{props.fixed.label}</strong> on all gateway nodes.
        </p>
      ) : (
        <>
          <fieldset class="multi" aria-describedby={fieldErrors[''] ? 'cache--err' : undefined}>
            <legend class="label">Invalidate the entries of</legend>
            {(Object.keys(BY_LABEL) as By[]).map((k) => (
              <label key={k} class="check">
                <input type="radio" name="cache-by" value={k} checked={by === k} onChange={() => setBy(k)} />
                {BY_LABEL[k]}
              </label>
            ))}
          </fieldset>
          {fieldError('')}
          {by === 'service_id' ? (
            <div class={`field${fieldErrors.service_id ? ' invalid' : ''}`}>
              <label for="cache-service_id">Service</label>
              <select id="cache-service_id" value={values.service_id} onChange={set('service_id')} {...invalid('service_id')}>
                <option value="">— choose —</option>
                {[...(names.service_id?.entries() ?? [])].map(([id, n]) => (
                  <option key={id} value={id}>
                    {n}
                  </option>
                ))}
              </select>
              {fieldError('service_id')}
            </div>
          ) : null}
          {by === 'route_id' ? (
            <div class={`field${fieldErrors.route_id ? ' invalid' : ''}`}>
              <label for="cache-route_id">Route</label>
              <select id="cache-route_id" value={values.route_id} onChange={set('route_id')} {...invalid('route_id')}>
                <option value="">— choose —</option>
                {[...(names.route_id?.entries() ?? [])].map(([id, n]) => (
                  <option key={id} value={id}>
                    {n}
                  </option>
                ))}
              </select>
              {fieldError('route_id')}
            </div>
          ) : null}
          {by === 'prefix' ? (
            <div class={`field${fieldErrors.prefix ? ' invalid' : ''}`}>
              <label for="cache-prefix">Path prefix</label>
              <input id="cache-prefix" value={values.prefix} onInput={set('prefix')} placeholder="/v1/products" aria-describedby={fieldErrors.prefix ? 'cache-prefix-err' : 'cache-prefix-hint'} aria-invalid={fieldErrors.prefix ? 'true' : undefined} />
              <small id="cache-prefix-hint" class="muted">
                Entries whose request path starts with it, of this tenant's services only.
              </small>
              {fieldError('prefix')}
            </div>
          ) : null}
        </>
      )}
      <ErrorBox error={error} />
      {outcome ? <Answer outcome={outcome} names={names} /> : null}
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy}>
          Invalidate cache
        </button>
      </div>
    </form>
  );
}

export function CacheInvalidationDialog(props: RowDialogProps) {
  const by = props.kind === 'services' ? 'service_id' : 'route_id';
  return (
    <Dialog title={`Invalidate the cache of ${props.title}`} onClose={props.onClose}>
      <InvalidateForm fixed={{ by, id: props.entity.id, label: props.title }} />
      <div class="form-actions">
        <button type="button" onClick={props.onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}

export default function CacheInvalidationPage() {
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Cache invalidation</h1>
      <p class="muted">
        Drops <code>proxy-cache</code> entries on every gateway node; the next matching request goes to the upstream (<code>X-Cache: MISS</code>).
      </p>
      <InvalidateForm />
    </section>
  );
}
