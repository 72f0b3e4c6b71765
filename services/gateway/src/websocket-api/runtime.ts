// A proxy thread's WebSocket API state: the connections it holds (by id) and the connection management API
// (`POST|GET|DELETE <route>/@connections/{id}`), answered here for a connection of this thread and forwarded
// to its owner (over NATS, through the node's primary with worker threads) for any other.
import { isUtf8 } from 'node:buffer';
import { errorBody, type ErrorCode } from '@turnpike/common';
import { newConnectionId, ownerOf, type ConnectionOwner } from './connection-id.js';
import type { WsApiOp, WsApiReply } from './cluster.js';
import type { ApiSession } from './session.js';

/** Runs an operation on the thread that owns the connection (another node's, or another worker's). */
export type RemoteWsApi = (owner: ConnectionOwner, op: WsApiOp) => Promise<WsApiReply>;

/** Where a management call's answer goes: the proxy's exchange (proxy/handler.ts), as for AI answers. */
export interface ManagementSink {
  onConnect(abort: (err?: Error) => void): void;
  onHeaders(status: number, rawHeaders: string[], resume: () => void, statusText: string): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: null): void;
  setErrorCode(code: string): void;
}

export interface ManagementRequest {
  method: string;
  path: string;
  body: Buffer;
  requestId: string;
}

export interface WsApiRuntimeOptions {
  nodeId: string;
  /** This proxy thread's worker index (0 without worker threads). */
  worker: number;
  remote: RemoteWsApi | null;
}

const MARKER = '/@connections/';
const NO_HEADERS: string[] = [];
const noop = (): void => {};

export class WsApiRuntime {
  readonly sessions = new Map<string, ApiSession>();
  readonly nodeId: string;
  readonly worker: number;
  remote: RemoteWsApi | null;

  constructor(o: WsApiRuntimeOptions) {
    this.nodeId = o.nodeId;
    this.worker = o.worker;
    this.remote = o.remote;
  }

  newId(): string {
    return newConnectionId(this.nodeId, this.worker);
  }

  /** An operation on a connection of this thread. */
  execute(op: WsApiOp): WsApiReply {
    const s = this.sessions.get(op.id);
    if (s === undefined || s.closed) return { status: 410 };
    switch (op.action) {
      case 'post': {
        const data = Buffer.from(op.data ?? '', 'base64');
        // Text when it is UTF-8 (what API Gateway clients expect of JSON payloads), binary otherwise.
        return s.send(data, !isUtf8(data)) ? { status: 200 } : { status: 410 };
      }
      case 'get':
        return {
          status: 200,
          body: { connectedAt: new Date(s.facts.connectedAt).toISOString(), identity: { sourceIp: s.facts.sourceIp, ...(s.facts.userAgent !== '' ? { userAgent: s.facts.userAgent } : {}) }, lastActiveAt: new Date(s.lastActiveAt).toISOString() },
        };
      case 'delete':
        s.disconnect();
        return { status: 204 };
    }
  }

  /** Whether `path` is a management call (`…/@connections/{id}`). */
  static isManagement(path: string): boolean {
    return path.includes(MARKER);
  }

  /** Answers a management call on `sink`. */
  manage(req: ManagementRequest, sink: ManagementSink): void {
    sink.onConnect(noop);
    const i = req.path.lastIndexOf(MARKER);
    let id = '';
    try {
      id = decodeURIComponent(req.path.slice(i + MARKER.length));
    } catch {
      id = '';
    }
    const action: WsApiOp['action'] | null = req.method === 'POST' ? 'post' : req.method === 'GET' ? 'get' : req.method === 'DELETE' ? 'delete' : null;
    if (action === null) return this.#error(sink, req, 405, 'TP_ERR_METHOD_NOT_ALLOWED', 'use POST, GET or DELETE on @connections/{id}');
    const op: WsApiOp = action === 'post' ? { action, id, data: req.body.toString('base64') } : { action, id };
    const owner = ownerOf(id);
    if (owner === null) return this.#reply(sink, req, { status: 410 });
    if (owner.nodeId === this.nodeId && owner.worker === this.worker) return this.#reply(sink, req, this.execute(op));
    if (this.remote === null) return this.#reply(sink, req, { status: 410 });
    this.remote(owner, op).then(
      (r) => this.#reply(sink, req, r),
      () => this.#reply(sink, req, { status: 503 }),
    );
  }

  #reply(sink: ManagementSink, req: ManagementRequest, r: WsApiReply): void {
    if (r.status === 410) return this.#error(sink, req, 410, 'TP_ERR_WS_CONNECTION_GONE', 'the connection is not open');
    if (r.status === 504) return this.#error(sink, req, 504, 'TP_ERR_UPSTREAM_TIMEOUT', 'the node holding the connection did not answer in time');
    if (r.status >= 500) return this.#error(sink, req, 503, 'TP_ERR_UNAVAILABLE', 'the node holding the connection cannot be reached');
    if (r.status === 400) return this.#error(sink, req, 400, 'TP_ERR_BAD_REQUEST', 'malformed connection operation');
    if (r.body === undefined) {
      sink.onHeaders(r.status, NO_HEADERS, noop, '');
      return sink.onComplete(null);
    }
    this.#json(sink, r.status, Buffer.from(JSON.stringify(r.body)));
  }

  #error(sink: ManagementSink, req: ManagementRequest, status: number, code: ErrorCode, message: string): void {
    sink.setErrorCode(code);
    this.#json(sink, status, Buffer.from(JSON.stringify(errorBody(code, message, req.requestId))));
  }

  #json(sink: ManagementSink, status: number, body: Buffer): void {
    sink.onHeaders(status, ['content-type', 'application/json', 'content-length', String(body.length)], noop, '');
    sink.onData(body);
    sink.onComplete(null);
  }
}
