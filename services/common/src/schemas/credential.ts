import { Type, type Static, type TObject } from '@sinclair/typebox';
import { Id, Tags, Timestamps } from './common.js';

/**
 * A consumer's credentials other than API keys: JWT issuers, HMAC secrets and basic-auth passwords,
 * one `type` each. Secrets are write-only: HMAC and JWT (HS) secrets are stored and pushed sealed with
 * the cluster keyring, passwords only as scrypt hashes; the public entity says `secret_set` instead.
 */

/** JWS algorithms a JWT credential may allow; `none` is not among them on purpose. */
export const JWT_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];
export const JwtAlgorithm = Type.Union(JWT_ALGORITHMS.map((a) => Type.Literal(a)));

export const HMAC_ALGORITHMS = ['hmac-sha256', 'hmac-sha384', 'hmac-sha512'] as const;
export type HmacAlgorithm = (typeof HMAC_ALGORITHMS)[number];
export const HmacAlgorithm = Type.Union(HMAC_ALGORITHMS.map((a) => Type.Literal(a)));

export const CREDENTIAL_TYPES = ['jwt', 'hmac', 'basic'] as const;
export type CredentialType = (typeof CREDENTIAL_TYPES)[number];
export const CredentialType = Type.Union(CREDENTIAL_TYPES.map((t) => Type.Literal(t)));

/** Printable text without control characters (identifiers that travel in headers and tokens). */
const Printable = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: '^[^\\u0000-\\u001f\\u007f]+$' });
/** An HTTP header field name (RFC 9110 token). */
const HeaderName = Type.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$" });
const SharedSecret = Type.String({ minLength: 16, maxLength: 1024, description: 'write-only; stored sealed' });

const jwtInput = {
  type: Type.Literal('jwt'),
  /** The `iss` claim that selects this credential; unique across all tenants (nodes look it up by it). */
  issuer: Printable(512),
  algorithms: Type.Array(JwtAlgorithm, { minItems: 1, maxItems: JWT_ALGORITHMS.length, uniqueItems: true }),
  /** Where the issuer publishes its keys (asymmetric algorithms; exclusive with public_key). */
  jwks_uri: Type.Optional(Type.Union([Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2048 }), Type.Null()])),
  /** A PEM public key (asymmetric algorithms; exclusive with jwks_uri). */
  public_key: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 16384 }), Type.Null()])),
  /** The shared secret (HS algorithms only). */
  secret: Type.Optional(SharedSecret),
  /** Accepted `aud` values; empty: `aud` is not checked. */
  audiences: Type.Optional(Type.Array(Printable(512), { maxItems: 32, default: [] })),
  clock_skew_s: Type.Optional(Type.Integer({ minimum: 0, maximum: 600, default: 60 })),
  /** Claims copied into request headers for the upstream: claim name → header name. */
  claims_to_headers: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 128 }), HeaderName, { maxProperties: 32, default: {} })),
  tags: Type.Optional(Tags),
};
export const JwtCredentialCreate = Type.Object(jwtInput, { additionalProperties: false });
export type JwtCredentialCreate = Static<typeof JwtCredentialCreate>;

const hmacInput = {
  type: Type.Literal('hmac'),
  /** The `keyId` a signed request names; unique across all tenants. */
  key_id: Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9._~:@/+=-]+$' }),
  /** Generated (32 random bytes, base64url) when absent and then returned once, in the create response. */
  secret: Type.Optional(SharedSecret),
  algorithms: Type.Optional(Type.Array(HmacAlgorithm, { minItems: 1, maxItems: HMAC_ALGORITHMS.length, uniqueItems: true, default: ['hmac-sha256'] })),
  tags: Type.Optional(Tags),
};
export const HmacCredentialCreate = Type.Object(hmacInput, { additionalProperties: false });
export type HmacCredentialCreate = Static<typeof HmacCredentialCreate>;

const basicInput = {
  type: Type.Literal('basic'),
  /** Unique across all tenants; no `:` (it separates user and password in the header). */
  username: Type.String({ minLength: 1, maxLength: 256, pattern: '^[^:\\u0000-\\u001f\\u007f]+$' }),
  /** Required on create; write-only, stored as a scrypt hash. An update without it keeps the stored one. */
  password: Type.Optional(Type.String({ minLength: 8, maxLength: 256, description: 'write-only; stored as a scrypt hash' })),
  tags: Type.Optional(Tags),
};
export const BasicCredentialCreate = Type.Object(basicInput, { additionalProperties: false });
export type BasicCredentialCreate = Static<typeof BasicCredentialCreate>;

const branches: ReadonlyArray<readonly [CredentialType, TObject]> = [
  ['jwt', JwtCredentialCreate],
  ['hmac', HmacCredentialCreate],
  ['basic', BasicCredentialCreate],
];

/**
 * The create body, discriminated on `type`. Written as `if type = X then <X's schema>` rather than a
 * plain `anyOf`, so that a bad field is reported once at its path for the type given (an `anyOf` reports
 * every branch's mismatches) and the branch's defaults are filled in. The top-level `properties` name
 * every field of every type with its JSON type only (the constraints live in the branches): the resource
 * store merges a PATCH over the stored fields it finds there, and the gRPC adapter reads the wire shape.
 */
export const CredentialCreate = Type.Unsafe<JwtCredentialCreate | HmacCredentialCreate | BasicCredentialCreate>({
  type: 'object',
  required: ['type'],
  properties: {
    type: CredentialType,
    issuer: Type.String(),
    algorithms: Type.Array(Type.String()),
    jwks_uri: Type.Union([Type.String(), Type.Null()]),
    public_key: Type.Union([Type.String(), Type.Null()]),
    secret: Type.String(),
    audiences: Type.Array(Type.String()),
    clock_skew_s: Type.Integer(),
    claims_to_headers: Type.Record(Type.String(), Type.String()),
    key_id: Type.String(),
    username: Type.String(),
    password: Type.String(),
    tags: Type.Array(Type.String()),
  },
  allOf: branches.map(([t, schema]) => ({ if: { properties: { type: { const: t } }, required: ['type'] }, then: schema })),
});
export type CredentialCreate = Static<typeof CredentialCreate>;

/**
 * A PATCH: any field of the credential's type, validated whole after merging over the stored fields.
 * `type` is not among them: it cannot change (a PUT naming another type is refused with 422).
 */
export const CredentialUpdate = Type.Object(
  {
    issuer: Type.Optional(jwtInput.issuer),
    algorithms: Type.Optional(Type.Array(Type.Union([JwtAlgorithm, HmacAlgorithm]), { minItems: 1, maxItems: JWT_ALGORITHMS.length, uniqueItems: true })),
    jwks_uri: jwtInput.jwks_uri,
    public_key: jwtInput.public_key,
    secret: Type.Optional(SharedSecret),
    audiences: Type.Optional(Type.Array(Printable(512), { maxItems: 32 })),
    clock_skew_s: Type.Optional(Type.Integer({ minimum: 0, maximum: 600 })),
    claims_to_headers: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 128 }), HeaderName, { maxProperties: 32 })),
    key_id: Type.Optional(hmacInput.key_id),
    username: Type.Optional(basicInput.username),
    password: basicInput.password,
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);
export type CredentialUpdate = Static<typeof CredentialUpdate>;

const common = { id: Id, consumer_id: Id, tags: Tags, ...Timestamps };

export const JwtCredential = Type.Object({
  ...common,
  type: Type.Literal('jwt'),
  issuer: Type.String(),
  algorithms: Type.Array(JwtAlgorithm),
  jwks_uri: Type.Optional(Type.String()),
  public_key: Type.Optional(Type.String()),
  audiences: Type.Array(Type.String()),
  clock_skew_s: Type.Integer(),
  claims_to_headers: Type.Record(Type.String(), Type.String()),
  /** Whether a shared secret (HS algorithms) is stored; the secret itself is never returned. */
  secret_set: Type.Boolean(),
});
export type JwtCredential = Static<typeof JwtCredential>;

export const HmacCredential = Type.Object({
  ...common,
  type: Type.Literal('hmac'),
  key_id: Type.String(),
  algorithms: Type.Array(HmacAlgorithm),
  secret_set: Type.Boolean(),
  /** Only in the create response, and only when the server generated the secret. */
  secret: Type.Optional(Type.String()),
});
export type HmacCredential = Static<typeof HmacCredential>;

export const BasicCredential = Type.Object({
  ...common,
  type: Type.Literal('basic'),
  username: Type.String(),
  /** Always true: a basic credential is created with a password (stored as a hash, never returned). */
  secret_set: Type.Boolean(),
});
export type BasicCredential = Static<typeof BasicCredential>;

export const Credential = Type.Union([JwtCredential, HmacCredential, BasicCredential]);
export type Credential = Static<typeof Credential>;
