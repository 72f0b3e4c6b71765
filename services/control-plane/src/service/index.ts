// The service layer: the only place with admin logic. REST and gRPC adapters call these functions.
export type { ServiceContext } from './context.js';
export type { ListOptions, Page } from './pagination.js';
export * from './upstreams.js';
export * from './services.js';
export * from './routes.js';
export * from './consumers.js';
export * from './api-keys.js';
export * from './admin-tokens.js';
export * from './status.js';
export * from './cluster.js';
export * from './analytics.js';
export * from './versions.js';
export * from './idempotency.js';
export type { ListFilters } from './pagination.js';
