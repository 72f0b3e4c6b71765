// Small building blocks the console's pages use: a modal dialog (native <dialog>: focus is trapped, Esc
// closes it), the API error box, a secret shown once, and timestamps.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorDisplay } from '../shared/errors.js';

export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  return (
    <dialog
      ref={ref}
      class={props.wide ? 'wide' : ''}
      aria-labelledby="dialog-title"
      onCancel={(e) => {
        // Esc: let the app unmount the dialog instead of the browser closing it behind preact's back.
        e.preventDefault();
        props.onClose();
      }}
    >
      <header class="dialog-head">
        <h2 id="dialog-title">{props.title}</h2>
        <button type="button" class="close" aria-label="Close" onClick={props.onClose}>
          ×
        </button>
      </header>
      {props.children}
    </dialog>
  );
}

// Operators see the API's error code beside the message.
export const { errorText, ErrorBox } = errorDisplay({ withCode: true });

export function Secret(props: { label: string; value: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="secret" role="status">
      <p>
        <strong>{props.label}</strong> — shown only once; copy it now.
      </p>
      <code data-testid="secret-value">{props.value}</code>{' '}
      <button
        type="button"
        onClick={() => {
          void navigator.clipboard?.writeText(props.value).then(() => setCopied(true), () => undefined);
        }}
      >
        {copied ? 'Copied' : 'Copy'}
      </button>
    </div>
  );
}

/**
 * The from/to fields (local time, read with localTimeMs) and the submit button that end a search form: the call
 * log's and the audit log's. `onInput(name)` is the form's field setter.
 */
export function TimeRangeSearch(props: { from: string; to: string; onInput: (name: 'from' | 'to') => (e: Event) => void }) {
  return (
    <>
      <label>
        from
        <input type="datetime-local" name="from" value={props.from} onInput={props.onInput('from')} />
      </label>
      <label>
        to
        <input type="datetime-local" name="to" value={props.to} onInput={props.onInput('to')} />
      </label>
      <button type="submit" class="primary">
        Search
      </button>
    </>
  );
}

/** A `datetime-local` input's value as epoch ms; undefined when empty or not a time. */
export function localTimeMs(local: string): number | undefined {
  if (!local) return undefined;
  const t = new Date(local).getTime();
  return Number.isNaN(t) ? undefined : t;
}

export function fmtTime(v: unknown): string {
  if (typeof v !== 'string' && typeof v !== 'number') return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
