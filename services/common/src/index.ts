export * from './errors.js';
export * from './schemas/index.js';
export * from './config-model.js';
export * from './call-log.js';
export * from './calls-stream.js';
export * from './analytics.js';
export type * from './config-bus/types.js';
export { InProcessConfigBus } from './config-bus/in-process.js';
export { NatsKvConfigBus } from './config-bus/nats-kv.js';
