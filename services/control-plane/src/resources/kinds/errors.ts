// Errors the resource kinds raise from their own checks, worded the same way in every kind.
import { TurnpikeError, type FieldError, type Keyring } from '@turnpike/common';

/** 422 with field paths, the message listing each ("<path> <message>"). */
export function unprocessable(fields: FieldError[]): TurnpikeError {
  return new TurnpikeError('TP_ERR_UNPROCESSABLE', fields.map((f) => `${f.path.slice(1)} ${f.message}`).join('; '), fields);
}

/** The keyring, or 503 naming what cannot be stored without it (`what`: e.g. "certificates"). */
export function requireKeyring(keyring: Keyring | null, what: string): Keyring {
  if (!keyring) throw new TurnpikeError('TP_ERR_UNAVAILABLE', `${what} cannot be stored: the control plane has no secret key (set TP_SECRET_KEY or TP_SECRET_KEYS)`);
  return keyring;
}
