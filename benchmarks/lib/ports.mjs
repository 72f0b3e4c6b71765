// Free loopback ports for the run's servers (freePort is the one the test suites use).
import { freePort } from '../../services/common/dist/src/testing/index.js';

/** @param {number} n @returns {Promise<number[]>} n distinct free ports */
export async function freePorts(n) {
  const out = new Set();
  while (out.size < n) out.add(await freePort());
  return [...out];
}
