// Small pieces the portal pages share: error display (with the API's field paths), status badges, dates,
// and copying to the clipboard.
import { ApiError } from '../shared/api.js';
import { errorDisplay } from '../shared/errors.js';

export const { errorText, ErrorBox } = errorDisplay({ withCode: false });

/** The message for one form field (`/email`), from an ApiError's field paths. */
export function fieldError(err: unknown, path: string): string | null {
  if (!(err instanceof ApiError)) return null;
  const f = err.fields.find((x) => x.path === path);
  return f ? f.message : null;
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
