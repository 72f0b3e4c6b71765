export * from './keyring.js';
export * from './password-hash.js';
