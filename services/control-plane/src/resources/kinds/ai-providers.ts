// AI providers. The API key (or bedrock's secret access key) is sealed with the keyring, bound to the
// provider id, and kept only in `material`; the public doc says whether a key is set and its last four
// characters. A write without a secret keeps the stored one; a write with one replaces it (rotation).
import {
  AI_PROVIDER_CREDENTIALS,
  AiProvider,
  AiProviderCreate,
  AiProviderUpdate,
  aiProviderProblems,
  isSealed,
  seal,
  type AiProviderSecrets,
  type AiProviderType,
  type SealedSecret,
} from '@turnpike/common';
import { assertNoServiceUses } from '../../service/services.js';
import type { ResourceDef, ResourceDoc, SecretMaterial } from '../definition.js';
import { requireKeyring, unprocessable } from './errors.js';

/** Keys shorter than this show no characters at all (four of eight would give half the key away). */
const LAST4_MIN_LENGTH = 16;



function sealedOrNull(v: unknown): SealedSecret | null {
  return isSealed(v) ? v : null;
}

export const aiProviders: ResourceDef = {
  // A service's AI integration may name it: refuse the delete while one does (409).
  beforeDelete: (w, id) => assertNoServiceUses(w.tx, 'provider_ids', id, 'AI provider'),
  kind: 'ai_providers',
  path: 'ai-providers',
  singular: 'AI provider',
  title: 'AiProvider',
  create: AiProviderCreate,
  update: AiProviderUpdate,
  entity: AiProvider,
  nameOf: (d) => String(d.name),
  unique: (d) => [{ field: '/name', value: String(d.name), scope: 'tenant' }],
  filters: { type: 'type' },
  secrets: {
    prepare({ doc, prior, id, keyring }) {
      const type = doc.type as AiProviderType;
      const credential = AI_PROVIDER_CREDENTIALS[type];
      const { api_key: apiKeyInput, aws: awsInput, ...rest } = doc;
      const aws = awsInput as { region: string; access_key_id: string; secret_access_key?: string } | null | undefined;
      const problems = aiProviderProblems({ ...(rest as Parameters<typeof aiProviderProblems>[0]), aws: aws ?? null });

      // The secrets after this write: a given one replaces, an absent one keeps the stored one, and a type
      // that does not take a kind of secret drops it (switching openai → bedrock forgets the API key).
      const priorSecrets: AiProviderSecrets = { api_key: sealedOrNull(prior?.api_key), aws_secret_access_key: sealedOrNull(prior?.aws_secret_access_key) };
      let apiKey: SealedSecret | null = credential === 'aws' ? null : priorSecrets.api_key;
      let awsSecret: SealedSecret | null = credential === 'aws' ? priorSecrets.aws_secret_access_key : null;
      let last4: string | null = credential === 'aws' ? null : ((doc.api_key_last4 as string | null | undefined) ?? null);

      if (typeof apiKeyInput === 'string' && credential === 'aws') problems.push({ path: '/api_key', message: 'is not used by type bedrock (set aws.secret_access_key)' });
      if (problems.length === 0) {
        if (typeof apiKeyInput === 'string') {
          apiKey = seal(requireKeyring(keyring, 'AI provider credentials'), apiKeyInput, id);
          last4 = apiKeyInput.length >= LAST4_MIN_LENGTH ? apiKeyInput.slice(-4) : null;
        } else if (apiKeyInput === null) {
          apiKey = null;
          last4 = null;
        }
        if (credential === 'aws' && aws?.secret_access_key !== undefined) awsSecret = seal(requireKeyring(keyring, 'AI provider credentials'), aws.secret_access_key, id);
      }
      if (credential === 'api_key' && apiKey === null) problems.push({ path: '/api_key', message: `is required for type ${type}` });
      if (credential === 'aws' && aws && awsSecret === null) problems.push({ path: '/aws/secret_access_key', message: 'is required for type bedrock' });
      if (problems.length > 0) throw unprocessable(problems);

      const material: SecretMaterial | null = apiKey || awsSecret ? { api_key: apiKey, aws_secret_access_key: awsSecret } : null;
      const publicDoc: ResourceDoc = {
        ...rest,
        aws: aws ? { region: aws.region, access_key_id: aws.access_key_id } : null,
        api_key_set: apiKey !== null,
        api_key_last4: apiKey !== null ? last4 : null,
      };
      return { doc: publicDoc, material };
    },
  },
  dataPlane(entity, material) {
    const secret: AiProviderSecrets = { api_key: sealedOrNull(material?.api_key), aws_secret_access_key: sealedOrNull(material?.aws_secret_access_key) };
    return { ...entity, secret };
  },
};
