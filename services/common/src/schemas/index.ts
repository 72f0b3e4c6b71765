export * from './common.js';
export * from './upstream.js';
export * from './service.js';
export * from './route.js';
export * from './consumer.js';
export * from './api-key.js';
