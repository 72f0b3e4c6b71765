// What the generic resource store needs to know about one kind: its schemas, identity, references,
// secrets, extra checks, state-changing actions and what the data plane receives. Kinds live in kinds/.
import type { TSchema } from '@sinclair/typebox';
import type { EntityKind, Keyring, ResourceKind } from '@turnpike/common';
import type { AuthContext, Role } from '../service/access.js';
import type { TransactionSql } from 'postgres';
import type { WriteScope } from '../service/write.js';

/** A resource as returned by the API: `id`, public fields, `created_at`, `updated_at`. */
export type ResourceEntity = { id: string; created_at: string; updated_at: string } & Record<string, unknown>;
/** The stored public fields (everything but id and timestamps). */
export type ResourceDoc = Record<string, unknown>;

export interface Reference {
  /** JSON pointer of the referring field (`/service_id`, `/scope/route_id`), used in errors. */
  field: string;
  kind: EntityKind;
  id: string;
  /**
   * What deleting the referenced entity does to this resource: `cascade` deletes it too (a credential
   * with its consumer), `restrict` refuses the delete with 409 TP_ERR_IN_USE (a plan still subscribed to).
   */
  onDelete: 'cascade' | 'restrict';
}

export interface UniqueKey {
  /** The field reported in a 409 (`/name`). */
  field: string;
  value: string;
  /**
   * `tenant`: unique among the tenant's resources of this kind; `global`: among every tenant's (for
   * identifiers the data plane looks credentials up by, which carry no tenant).
   */
  scope: 'tenant' | 'global';
  /** Separates values that may coincide without conflicting (an HMAC key id and a basic username). */
  namespace?: string;
}

/** Secret handling: turns validated input into public fields plus stored secret material. */
export interface SecretHandler {
  /**
   * `doc`: the validated input (create, or current fields merged with a patch), secret fields included
   * when given. `prior`: the stored material (on update). Returns the public doc (secret fields removed),
   * what to store (sealed or hashed; null for none) and, on create, clear values to show once.
   */
  prepare(args: { doc: ResourceDoc; prior: SecretMaterial | null; id: string; keyring: Keyring | null; creating: boolean }): {
    doc: ResourceDoc;
    material: SecretMaterial | null;
    reveal?: Record<string, string>;
  };
}
export type SecretMaterial = Record<string, unknown>;

export interface ActionContext {
  auth: AuthContext;
  now: Date;
  tx: TransactionSql;
}

/** A state change with its own endpoint (`POST /v1/<plural>/{id}/<name>`), e.g. approving a subscription. */
export interface ResourceAction {
  name: string;
  summary: string;
  /** The request body's schema. */
  input: TSchema;
  /** The least role that may run it (the token's scopes must also allow writing the kind). */
  minRole: Role;
  /** Returns the new public doc, or throws (TP_ERR_UNPROCESSABLE for a transition that is not allowed). */
  apply(doc: ResourceDoc, input: unknown, ctx: ActionContext): ResourceDoc;
}

export interface ResourceDef {
  kind: ResourceKind;
  /** URL segment (`consumer-groups`), also the OpenAPI tag. */
  path: string;
  /** `consumer group`: used in messages. */
  singular: string;
  /** `ConsumerGroup`: OpenAPI component and gRPC message stem. */
  title: string;
  create: TSchema;
  /** A partial of create (the fields a PATCH may send). */
  update: TSchema;
  entity: TSchema;
  /**
   * Resources that belong to another entity are addressed under it (`/v1/consumers/{consumer_id}/credentials`)
   * and carry its id in `field`; they are deleted with it.
   */
  parent?: { kind: 'consumers'; field: 'consumer_id'; path: 'consumers'; singular: 'consumer' };
  /** Fields a write may not change after creation. */
  immutable?: readonly string[];
  /** Value of the list endpoint's `name` filter; null when the kind has no name. */
  nameOf(doc: ResourceDoc): string | null;
  unique?(doc: ResourceDoc): UniqueKey[];
  references?(doc: ResourceDoc): Reference[];
  /**
   * Further checks of a valid doc (e.g. a plugin's config against its type's schema); throws with field
   * paths. May return the doc normalized (defaults of a nested config filled in), which is what is stored.
   */
  check?(doc: ResourceDoc, ctx: { tx: TransactionSql; tenantId: string }): Promise<ResourceDoc | void> | ResourceDoc | void;
  /** Fills fields the server decides on create (a subscription's status). */
  initialize?(doc: ResourceDoc, ctx: ActionContext & { tenantId: string }): Promise<ResourceDoc> | ResourceDoc;
  secrets?: SecretHandler;
  /** Fields of the create response shown once (clear secrets): left out of an Idempotency-Key replay. */
  revealOnce?: readonly string[];
  actions?: readonly ResourceAction[];
  /** What the data plane receives (default: the entity, plus the secret material under `secret`). */
  dataPlane?(entity: ResourceEntity, material: SecretMaterial | null): Record<string, unknown> & { id: string };
  /**
   * Data-plane fields kept in other tables (a prompt template's pinned versions), read in the transaction
   * that publishes or reconciles the entity and added to its payload.
   */
  dataPlaneExtra?(tx: TransactionSql, entity: ResourceEntity): Promise<Record<string, unknown>>;
  /**
   * Runs in a create's or update's transaction once the doc passed every check, just before it is stored:
   * returns the doc to store, with server-kept fields that follow from the change (a prompt template's
   * version). `prior`: the stored doc (null on create).
   */
  beforeStore?(doc: ResourceDoc, ctx: { tx: TransactionSql; tenantId: string; id: string; prior: ResourceDoc | null; now: Date }): Promise<ResourceDoc>;
  /** Runs in the delete's transaction before the row goes (e.g. drop a group from its members). */
  beforeDelete?(w: WriteScope, id: string, tenantId: string): Promise<void>;
  /** Extra list filters (`?status=pending`): query name → doc field (top-level, string-valued). */
  filters?: Readonly<Record<string, string>>;
}
