// Service <-> turnpike.admin.v1.Service / ServiceInput. Two fields are renamed on the wire: the API's
// version label is `api_version` (`version` is the concurrency counter there), and the OpenAPI document
// travels as JSON text (`openapi_json`), proto having no free-form object short of Struct.
import { TurnpikeError, type Service } from '@turnpike/common';
import { maskedInput, versioned, type ProtoObject } from './input-mask.js';

const FIELDS = ['name', 'upstream_id', 'integration', 'base_path', 'tags', 'lifecycle', 'api_version', 'sunset_at', 'catalog_visibility', 'openapi_json', 'splits', 'subscription_required'] as const;
const LISTS = ['tags', 'splits'] as const;

export function serviceToProto(s: Service): ProtoObject {
  const { version, sunset_at, openapi, upstream_id, integration, ...rest } = s;
  const msg: ProtoObject = { ...rest, api_version: version ?? '' };
  // Exactly one is set: http services carry upstream_id, the others integration.
  if (upstream_id) msg.upstream_id = upstream_id;
  if (integration) msg.integration = integration;
  if (sunset_at) msg.sunset_at = sunset_at;
  if (openapi) msg.openapi_json = JSON.stringify(openapi);
  return versioned(s, msg);
}

export function serviceFromProto(input: ProtoObject | undefined, mask?: readonly string[]): ProtoObject {
  const out = maskedInput(input, mask, FIELDS, LISTS);
  if (mask && mask.length > 0) {
    // A mask naming the target field without setting it clears it (the other one is then expected).
    if (mask.includes('integration') && out.integration === undefined) out.integration = null;
    if (mask.includes('upstream_id') && out.upstream_id === undefined) out.upstream_id = null;
  }
  const integration = out.integration as ProtoObject | null | undefined;
  // An empty repeated field is unset on the wire; an ai integration's provider list may be empty.
  if (integration && integration.type === 'ai' && integration.provider_ids === undefined) out.integration = { ...integration, provider_ids: [] };
  if ('api_version' in out) {
    out.version = out.api_version;
    delete out.api_version;
  }
  if (out.sunset_at === '') out.sunset_at = null;
  // proto3 leaves a zero weight off the wire.
  if (Array.isArray(out.splits)) out.splits = (out.splits as ProtoObject[]).map((sp) => ({ ...sp, weight: sp.weight ?? 0 }));
  if ('openapi_json' in out) {
    const text = out.openapi_json;
    delete out.openapi_json;
    if (text === '' || text === undefined) out.openapi = null;
    else {
      try {
        out.openapi = JSON.parse(String(text)) as unknown;
      } catch {
        throw new TurnpikeError('TP_ERR_VALIDATION', 'openapi_json is not valid JSON', [{ path: '/openapi_json', message: 'is not valid JSON' }]);
      }
    }
  }
  return out;
}
