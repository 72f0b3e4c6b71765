// How an app shows a failed call: one line of text, and the alert box the pages put above their content.
import type { JSX } from 'preact';
import { ApiError } from './api.js';

export interface ErrorDisplay {
  errorText(err: unknown): string;
  ErrorBox(props: { error: unknown }): JSX.Element | null;
}

/** `withCode`: operators see the API's error code beside the message (the console); developers do not. */
export function errorDisplay(opts: { withCode: boolean }): ErrorDisplay {
  const errorText = (err: unknown): string => {
    if (!(err instanceof ApiError)) return err instanceof Error ? err.message : String(err);
    const request = err.requestId ? `request ${err.requestId}` : '';
    if (opts.withCode) return `${err.message} (${err.code}${request ? `, ${request}` : ''})`;
    return `${err.message}${request ? ` (${request})` : ''}`;
  };
  const ErrorBox = (props: { error: unknown }) =>
    props.error ? (
      <p class="error" role="alert">
        {errorText(props.error)}
      </p>
    ) : null;
  return { errorText, ErrorBox };
}

/** Runs a button's or form's action: clears the error shown before and shows this one's failure, if any,
 * through `setError` (nothing is thrown into the event handler). */
export async function attempt(setError: (e: unknown) => void, action: () => Promise<unknown>): Promise<void> {
  setError(null);
  try {
    await action();
  } catch (e) {
    setError(e);
  }
}
