// Small pieces the portal pages share: error display (with the API's field paths), status badges, dates,
// and a hook that loads data and reloads on demand.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from '../shared/api.js';

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return `${err.message}${err.requestId ? ` (request ${err.requestId})` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

/** The message for one form field (`/email`), from an ApiError's field paths. */
export function fieldError(err: unknown, path: string): string | null {
  if (!(err instanceof ApiError)) return null;
  const f = err.fields.find((x) => x.path === path);
  return f ? f.message : null;
}

export function ErrorBox(props: { error: unknown }) {
  if (!props.error) return null;
  return (
    <p class="error" role="alert">
      {errorText(props.error)}
    </p>
  );
}

export function FieldError(props: { id: string; error: unknown; path: string }) {
  const msg = fieldError(props.error, props.path);
  return msg ? (
    <span id={props.id} class="field-error">
      {msg}
    </span>
  ) : null;
}

export function Badge(props: { kind: string; children: string }) {
  return <span class={`badge badge-${props.kind}`}>{props.children}</span>;
}

export function date(s: string | null | undefined): string {
  if (!s) return '—';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
}

export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []): { data: T | null; error: unknown; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => live && (setData(d), setError(null)),
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [n, ...deps]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  return { data, error, reload };
}

/** Copies text to the clipboard; falls back to selecting the element's text when the API is refused. */
export async function copy(text: string, el: HTMLElement | null): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (el) {
      const r = document.createRange();
      r.selectNodeContents(el);
      const sel = getSelection();
      sel?.removeAllRanges();
      sel?.addRange(r);
    }
    return false;
  }
}
