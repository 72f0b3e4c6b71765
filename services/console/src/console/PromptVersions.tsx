// A prompt template's versions (GET /v1/prompt-templates/{id}/versions, newest first, cursor paged): view
// one version's content (GET …/versions/{n}) and restore it (POST …/versions/{n}/restore, which makes its
// content current again as a new version) after a confirmation in the dialog.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './state.js';
import { DataTable } from '../shared/table.js';
import { attempt } from '../shared/errors.js';
import { useLoad } from '../shared/load.js';
import { Dialog, ErrorBox, fmtTime } from './ui.js';
import { useNames } from './ResourcePage.js';
import type { RowDialogProps } from './row-actions.js';

interface Version {
  template_id: string;
  version: number;
  messages: Array<{ role: string; content: string }>;
  variables: unknown[];
  parameters: Record<string, unknown>;
  model: string | null;
  provider_id: string | null;
  created_at: string;
}

interface Template {
  id: string;
  version: number;
  versions_count: number;
}

function firstMessage(v: Version): string {
  const m = v.messages[0];
  if (!m) return '';
  const text = `${m.role}: ${m.content}`;
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

/** The confirmation shown in place of the table's actions: restoring writes a new version. */
function ConfirmRestore(props: { version: number; current: number; onConfirm: () => Promise<void>; onCancel: () => void }) {
  const button = useRef<HTMLButtonElement>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => button.current?.focus(), []);
  return (
    <div class="confirm" role="group" aria-labelledby="restore-question">
      <p id="restore-question">
        Restore version {props.version}? Its content becomes current again as version {props.current + 1}; version {props.current} stays in the history.
      </p>
      <div class="form-actions">
        <button
          ref={button}
          type="button"
          class="primary"
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            await props.onConfirm();
            setBusy(false);
          }}
        >
          Yes, restore version {props.version}
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

export function PromptVersionsDialog(props: RowDialogProps) {
  const base = `/v1/prompt-templates/${props.entity.id}`;
  const names = useNames(['provider_id']);
  const [tick, setTick] = useState(0);
  const template = useLoad(() => api.get<Template>(base), [base, tick]);
  const [rows, setRows] = useState<Version[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [shown, setShown] = useState<Version | null>(null);
  const [restoring, setRestoring] = useState<number | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const page = (after: string | null) => api.get<{ data: Version[]; next_cursor: string | null }>(`${base}/versions`, { limit: 50, cursor: after });
  useEffect(() => {
    void attempt(setError, async () => {
      const p = await page(null);
      setRows(p.data);
      setCursor(p.next_cursor);
    });
  }, [base, tick]);

  const current = template.data?.version ?? 0;
  return (
    <Dialog title={`Versions of ${props.title}`} onClose={props.onClose} wide>
      {template.data ? (
        <p class="muted">
          Current version {current} of {template.data.versions_count}. Services follow the current version unless they pin one.
        </p>
      ) : null}
      {notice ? (
        <p class="notice" role="status">
          {notice}
        </p>
      ) : null}
      <ErrorBox error={template.error ?? error} />
      {restoring !== null ? (
        <ConfirmRestore
          version={restoring}
          current={current}
          onCancel={() => setRestoring(null)}
          onConfirm={() =>
            attempt(setError, async () => {
              const t = await api.post<Template>(`${base}/versions/${restoring}/restore`);
              setRestoring(null);
              setShown(null);
              const done = t.version === current ? `Version ${restoring} already is the current content` : `Restored version ${restoring} as version ${t.version}`;
              setNotice(done);
              setTick((x) => x + 1);
              props.onChanged(`${props.title}: ${done.toLowerCase()}`);
            })
          }
        />
      ) : null}
      <DataTable
        rows={rows}
        rowKey={(v) => String(v.version)}
        rowAttrs={(v) => ({ 'data-version': String(v.version) })}
        caption="versions, newest first"
        captionHidden
        columns={[
          { label: 'version', cell: (v) => (v.version === current ? <>{v.version} <span class="badge healthy">current</span></> : v.version) },
          { label: 'model', cell: (v) => v.model ?? '' },
          { label: 'provider', cell: (v) => (v.provider_id ? (names.provider_id?.get(v.provider_id) ?? v.provider_id) : '') },
          { label: 'first message', cell: firstMessage },
          { label: 'created', cell: (v) => fmtTime(v.created_at) },
          {
            label: 'actions',
            hiddenLabel: true,
            class: 'actions',
            cell: (v) => (
              <>
                <button type="button" aria-label={`View version ${v.version}`} onClick={() => attempt(setError, async () => setShown(await api.get<Version>(`${base}/versions/${v.version}`)))}>
                  View
                </button>
                {v.version !== current ? (
                  <button type="button" aria-label={`Restore version ${v.version}`} onClick={() => setRestoring(v.version)}>
                    Restore
                  </button>
                ) : null}
              </>
            ),
          },
        ]}
      />
      {cursor ? (
        <button
          type="button"
          onClick={() =>
            attempt(setError, async () => {
              const p = await page(cursor);
              setRows((r) => [...r, ...p.data]);
              setCursor(p.next_cursor);
            })
          }
        >
          Load more
        </button>
      ) : null}
      {shown ? (
        <section aria-labelledby="version-title">
          <h3 id="version-title">Version {shown.version}</h3>
          <pre class="plan" data-testid="version-content">
            {JSON.stringify({ messages: shown.messages, variables: shown.variables, parameters: shown.parameters, model: shown.model, provider_id: shown.provider_id }, null, 2)}
          </pre>
        </section>
      ) : null}
    </Dialog>
  );
}
