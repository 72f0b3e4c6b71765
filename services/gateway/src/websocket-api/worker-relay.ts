// With worker threads, WebSocket API connections live in the workers while the node's NATS connection lives
// in the primary: a worker's management call for a connection it does not hold goes to the primary
// (`WorkerWsApiRemote`), which runs it on the owning worker or forwards it to the owning node; the primary's
// requests to a worker are answered from that worker's registry (`WorkerOps`, kept by the worker pool).
import type { ConnectionOwner } from './connection-id.js';
import type { WsApiOp, WsApiReply } from './cluster.js';
import { RelayRequests } from '../node/relay-requests.js';

/** Longer than the primary's own NATS wait (5 s): a timeout there comes back as its 504 first. */
const RELAY_TIMEOUT_MS = 6_000;

/**
 * Management calls relayed between threads: a reply that does not come is a 504; the other side gone (a worker
 * that exited) is a 410, none of its connections being open.
 */
export function wsApiRelay<M>(post: (id: number, m: M) => boolean | void): RelayRequests<M, WsApiReply> {
  return new RelayRequests<M, WsApiReply>(post, { timeoutMs: RELAY_TIMEOUT_MS, timedOut: () => ({ status: 504 }), gone: () => ({ status: 410 }) });
}

/** A worker's way to the primary: the owner and the operation, answered by the primary. */
export type WorkerWsApiRemote = RelayRequests<{ owner: ConnectionOwner; op: WsApiOp }, WsApiReply>;
