// Declarative config export and import in the browser, with the CLI's own modules (services/cli/src/
// declarative: the file format, the planner, the plan renderer and the executor), bundled into this lazily
// loaded chunk: the console exports the same YAML as `turnpike export`, and an import shows the same plan as
// `turnpike diff` before it is applied like `turnpike apply`.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { AdminClient } from '../../../cli/dist/src/declarative/admin-client.js';
import { fetchCurrentState, toDeclarative } from '../../../cli/dist/src/declarative/current-state.js';
import { ConfigFileError, parseConfigFile, toYaml, type ParsedConfig } from '../../../cli/dist/src/declarative/file-format.js';
import { plan as makePlan, type Plan } from '../../../cli/dist/src/declarative/plan.js';
import { renderPlan, summarize } from '../../../cli/dist/src/declarative/diff-render.js';
import { executePlan, ApplyError } from '../../../cli/dist/src/declarative/execute.js';
import { state } from './state.js';
import { errorText } from './ui.js';

function client(): AdminClient {
  return new AdminClient({ url: location.origin, token: state.token ?? undefined, tenant: state.tenant ?? undefined });
}

function problemText(e: unknown): string {
  if (e instanceof ConfigFileError) return `invalid config file ${e.message}`;
  if (e instanceof ApplyError) return `${e.message}\n${e.completed} of ${e.total} operations were applied before the failure.`;
  const a = e as { code?: string; fields?: Array<{ path: string; message: string }>; message?: string };
  if (a && typeof a.code === 'string' && Array.isArray(a.fields)) return `${a.code}: ${a.message}${a.fields.map((f) => `\n  ${f.path}: ${f.message}`).join('')}`;
  return errorText(e);
}

export default function ConfigPage() {
  const [exported, setExported] = useState<string | null>(null);
  const [text, setText] = useState('');
  const [prune, setPrune] = useState(false);
  const [planned, setPlanned] = useState<{ parsed: ParsedConfig; plan: Plan; current: Awaited<ReturnType<typeof fetchCurrentState>> } | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = async (fn: () => Promise<void>) => {
    setBusy(true);
    setProblem(null);
    try {
      await fn();
    } catch (e) {
      setProblem(problemText(e));
    } finally {
      setBusy(false);
    }
  };

  const doExport = () =>
    run(async () => {
      setExported(toYaml(toDeclarative(await fetchCurrentState(client()))));
    });

  const doPlan = () =>
    run(async () => {
      setResult(null);
      setPlanned(null);
      const parsed = parseConfigFile(text, 'import');
      const current = await fetchCurrentState(client());
      setPlanned({ parsed, current, plan: makePlan(current, parsed.config, { prune }) });
    });

  const doApply = () =>
    run(async () => {
      if (!planned) return;
      const lines: string[] = [];
      await executePlan(client(), planned.current, planned.plan.operations, planned.parsed.locations, {
        done: (op, info) => {
          if (info.generatedKey) lines.push(`${op.action} ${'name' in op ? op.name : ''}: generated key ${info.generatedKey}`);
          if (info.generatedSecret) lines.push(`${op.action} ${'name' in op ? op.name : ''}: generated secret ${info.generatedSecret}`);
        },
      }, planned.parsed.config, { concurrency: 1 });
      setResult([`applied: ${summarize(planned.plan, 'done')}`, ...lines].join('\n'));
      setPlanned(null);
    });

  const download = useMemo(() => (exported ? URL.createObjectURL(new Blob([exported], { type: 'application/yaml' })) : null), [exported]);
  useEffect(() => () => { if (download) URL.revokeObjectURL(download); }, [download]);

  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Declarative config</h1>
      <p class="muted">
        The same file as <code>turnpike export</code> / <code>turnpike apply</code> (see docs/declarative-config.md). Secrets are never exported.
      </p>
      {problem ? (
        <pre class="error" role="alert">
          {problem}
        </pre>
      ) : null}
      <h2>Export</h2>
      <button type="button" onClick={doExport} disabled={busy}>
        Export current config
      </button>
      {exported !== null ? (
        <>
          <label for="export-text" class="visually-hidden">
            exported config
          </label>
          <textarea id="export-text" class="code" rows={14} readOnly value={exported} />
          <p>
            <a href={download!} download="turnpike.yaml">
              Download turnpike.yaml
            </a>{' '}
            <button type="button" onClick={() => setText(exported)}>
              Copy into import
            </button>
          </p>
        </>
      ) : null}
      <h2>Import</h2>
      <div class="field">
        <label for="import-file">Config file</label>
        <input
          id="import-file"
          type="file"
          accept=".yaml,.yml,.json"
          onChange={async (e) => {
            const f = (e.currentTarget as HTMLInputElement).files?.[0];
            if (f) setText(await f.text());
          }}
        />
      </div>
      <div class="field">
        <label for="import-text">or paste it (YAML or JSON)</label>
        <textarea id="import-text" class="code" rows={14} spellcheck={false} value={text} onInput={(e) => { setText((e.currentTarget as HTMLTextAreaElement).value); setPlanned(null); }} />
      </div>
      <label class="check">
        <input type="checkbox" checked={prune} onChange={(e) => { setPrune((e.currentTarget as HTMLInputElement).checked); setPlanned(null); }} /> prune: delete what the file does not mention
      </label>
      <div class="form-actions">
        <button type="button" onClick={doPlan} disabled={busy || text.trim() === ''}>
          Show plan
        </button>
        <button type="button" class="primary" onClick={doApply} disabled={busy || !planned || planned.plan.operations.length === 0}>
          Apply plan
        </button>
      </div>
      {planned ? (
        <>
          <h3>Plan</h3>
          <pre class="plan" data-testid="plan">
            {renderPlan(planned.plan)}
          </pre>
        </>
      ) : null}
      {result ? (
        <pre class="notice" role="status" data-testid="apply-result">
          {result}
        </pre>
      ) : null}
    </section>
  );
}
