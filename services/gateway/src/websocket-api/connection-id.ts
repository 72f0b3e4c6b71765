// Connection ids of WebSocket APIs: unique across the cluster and naming where the connection lives, so any
// node can route a management call (`/@connections/{id}`) to the node, and the proxy thread, that holds it.
// base64url of: 6 random bytes, a 4-byte per-thread counter, 1 byte worker index, then the node id (UTF-8).
import { randomBytes } from 'node:crypto';

export interface ConnectionOwner {
  nodeId: string;
  /** The proxy thread on that node: its worker index, 0 without worker threads. */
  worker: number;
}

let counter = 0;

export function newConnectionId(nodeId: string, worker: number): string {
  const node = Buffer.from(nodeId, 'utf8');
  const b = Buffer.allocUnsafe(11 + node.length);
  randomBytes(6).copy(b, 0);
  counter = (counter + 1) >>> 0;
  b.writeUInt32BE(counter, 6);
  b.writeUInt8(worker & 0xff, 10);
  node.copy(b, 11);
  return b.toString('base64url');
}

/** The owner an id names; null for a string that is not one of our ids (the caller answers 410). */
export function ownerOf(id: string): ConnectionOwner | null {
  if (id.length < 16 || id.length > 400 || !/^[A-Za-z0-9_-]+$/.test(id)) return null;
  const b = Buffer.from(id, 'base64url');
  if (b.length < 12) return null;
  const nodeId = b.subarray(11).toString('utf8');
  // Node ids are printable: a decoded control character or replacement character means random text.
  if (nodeId === '' || /[\u0000-\u001f\u007f\uFFFD]/.test(nodeId)) return null;
  return { nodeId, worker: b.readUInt8(10) };
}
