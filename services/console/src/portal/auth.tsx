// Sign in and sign up. Both answer a session token; the API's field errors are shown beside their fields.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, type FieldError as ApiFieldError } from '../shared/api.js';
import { api, setSession, state, tenant, type Developer } from './session.js';
import { ErrorBox, FieldError, fieldError } from './ui.js';

interface Issued {
  developer: Developer;
  token: string;
  expires_at: string;
}

function Field(props: { id: string; label: string; type: 'text' | 'email' | 'password'; value: string; set: (v: string) => void; error: unknown; path: string; autoComplete: string; hint?: string }) {
  const err = fieldError(props.error, props.path);
  const described = [props.hint ? `${props.id}-hint` : '', err ? `${props.id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        // preact's input types are a union keyed on `type`; the three used here take the same attributes.
        type={props.type as 'text'}
        required
        autoComplete={props.autoComplete}
        value={props.value}
        aria-invalid={err ? true : undefined}
        aria-describedby={described || undefined}
        onInput={(e) => props.set((e.currentTarget as HTMLInputElement).value)}
      />
      {props.hint ? (
        <small id={`${props.id}-hint`} class="muted">
          {props.hint}
        </small>
      ) : null}
      <FieldError id={`${props.id}-error`} error={props.error} path={props.path} />
    </div>
  );
}

export function AuthPage(props: { signup: 'open' | 'closed' | null }) {
  const [mode, setMode] = useState<'signin' | 'signup'>('signin');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>(state.expired ? new Error('Your session ended: sign in again.') : null);
  const [busy, setBusy] = useState(false);
  useEffect(() => document.querySelector<HTMLElement>('main h1')?.focus(), [mode]);

  /** The API's own rules, checked first so that a form left half-filled costs no failed request. */
  const check = (): ApiError | null => {
    const fields: ApiFieldError[] = [];
    if (mode === 'signup' && name.trim() === '') fields.push({ path: '/display_name', message: 'is required' });
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) fields.push({ path: '/email', message: 'must be an email address' });
    if (mode === 'signup' && password.length < 10) fields.push({ path: '/password', message: 'must NOT have fewer than 10 characters' });
    if (password === '') fields.push({ path: '/password', message: 'is required' });
    return fields.length > 0 ? new ApiError(400, 'TP_ERR_VALIDATION', 'Please correct the fields marked above.', '', fields) : null;
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    const invalid = check();
    setError(invalid);
    if (invalid) return;
    setBusy(true);
    try {
      const r = mode === 'signin' ? await api.post<Issued>('/sessions', { email, password }) : await api.post<Issued>('/accounts', { email, password, display_name: name });
      setSession(r.token, r.developer);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="auth">
      <h1 tabIndex={-1}>{mode === 'signin' ? 'Sign in' : 'Create a developer account'}</h1>
      <p class="muted">
        Developer portal of <strong>{tenant()}</strong>
      </p>
      <form onSubmit={submit} noValidate>
        {mode === 'signup' ? <Field id="display_name" label="Display name" type="text" value={name} set={setName} error={error} path="/display_name" autoComplete="name" /> : null}
        <Field id="email" label="Email" type="email" value={email} set={setEmail} error={error} path="/email" autoComplete="email" />
        <Field
          id="password"
          label="Password"
          type="password"
          value={password}
          set={setPassword}
          error={error}
          path="/password"
          autoComplete={mode === 'signin' ? 'current-password' : 'new-password'}
          {...(mode === 'signup' ? { hint: 'At least 10 characters.' } : {})}
        />
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {mode === 'signin' ? 'Sign in' : 'Sign up'}
        </button>
      </form>
      {props.signup === 'open' ? (
        <p>
          {mode === 'signin' ? 'No account yet? ' : 'Have an account? '}
          <button
            type="button"
            class="link"
            onClick={() => {
              setMode(mode === 'signin' ? 'signup' : 'signin');
              setError(null);
            }}
          >
            {mode === 'signin' ? 'Sign up' : 'Sign in'}
          </button>
        </p>
      ) : props.signup === 'closed' ? (
        <p class="muted">Sign-up is not open here: ask the API's operators for an account.</p>
      ) : null}
    </main>
  );
}
