export * from './definition.js';
export * from './store.js';
export { RESOURCE_DEFS, defOf } from './registry.js';
