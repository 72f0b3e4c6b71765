// Which AWS credentials a lambda integration signs with. Precedence: the integration's stored credentials
// (sealed by the control plane with the keyring, context = the service id) when it has them, else the
// node's environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN). Stored credentials
// this node cannot open never fall back to the environment: the calls answer 502 saying why.
import { open, type Keyring, type LambdaCredentials } from '@turnpike/common';
import { credentialsFromEnv } from './invoke.js';
import type { AwsCredentials } from './sigv4.js';

/** Credentials to sign with, or why there are none (the message of the calls' 502 TP_ERR_LAMBDA_CREDENTIALS_MISSING). */
export type ResolvedCredentials = { credentials: AwsCredentials; missing: null } | { credentials: null; missing: string };

export const NO_ENV_CREDENTIALS = 'this gateway node has no AWS credentials for lambda integrations (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or store credentials on the integration)';

export function lambdaCredentials(
  stored: LambdaCredentials | undefined,
  serviceId: string,
  keyring: Keyring | null,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedCredentials {
  if (stored === undefined) {
    const fromEnv = credentialsFromEnv(env);
    return fromEnv ? { credentials: fromEnv, missing: null } : { credentials: null, missing: NO_ENV_CREDENTIALS };
  }
  if (!stored.sealed) return { credentials: null, missing: 'the integration\'s stored AWS credentials reached this node without their sealed secret' };
  if (!keyring) {
    return { credentials: null, missing: 'this gateway node cannot open the integration\'s stored AWS credentials: it has no secret key (set TP_SECRET_KEY or TP_SECRET_KEYS)' };
  }
  try {
    const secretAccessKey = open(keyring, stored.sealed.secret_access_key, serviceId);
    const sessionToken = stored.sealed.session_token ? open(keyring, stored.sealed.session_token, serviceId) : null;
    return { credentials: { accessKeyId: stored.access_key_id, secretAccessKey, sessionToken }, missing: null };
  } catch (e) {
    return { credentials: null, missing: `this gateway node cannot open the integration's stored AWS credentials: ${e instanceof Error ? e.message : String(e)}` };
  }
}
