export { runUp, type UpOptions } from './up.js';
