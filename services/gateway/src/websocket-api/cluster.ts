// Connection management across the cluster: a node asked about a connection another node holds forwards
// the operation to that node over NATS request/reply, on a subject of its own per node
// (`turnpike.<cluster>.wsapi.<node id, base64url>`); the owner answers from its connection registry.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';

export type WsApiAction = 'post' | 'get' | 'delete';

export interface WsApiOp {
  action: WsApiAction;
  id: string;
  /** post: the message, base64. */
  data?: string;
}

/** 200 with `body` (get), 200 (post), 204 (delete), 410 (not open here), 504 (the owner did not answer). */
export interface WsApiReply {
  status: number;
  body?: unknown;
}

export interface WsApiChannel {
  /** Runs `op` on the node `nodeId`: its reply, 410 when no node of that id is listening. */
  request(nodeId: string, op: WsApiOp, timeoutMs: number): Promise<WsApiReply>;
  /** Answers this node's operations until stopped. */
  serve(nodeId: string, handle: (op: WsApiOp) => Promise<WsApiReply>): { stop(): void };
}

export function wsApiSubject(cluster: string, nodeId: string): string {
  return `turnpike.${cluster}.wsapi.${Buffer.from(nodeId, 'utf8').toString('base64url')}`;
}

export function parseWsApiOp(v: unknown): WsApiOp | null {
  if (v === null || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  if (o.action !== 'post' && o.action !== 'get' && o.action !== 'delete') return null;
  if (typeof o.id !== 'string' || o.id.length > 400) return null;
  if (o.data !== undefined && typeof o.data !== 'string') return null;
  return { action: o.action, id: o.id, ...(typeof o.data === 'string' ? { data: o.data } : {}) };
}

const RETRY_SUBSCRIBE_MS = 250;

export class NatsWsApiChannel implements WsApiChannel {
  constructor(
    readonly connection: () => NatsConnection | undefined,
    readonly cluster: string,
  ) {}

  async request(nodeId: string, op: WsApiOp, timeoutMs: number): Promise<WsApiReply> {
    const nc = this.connection();
    if (!nc || nc.isClosed()) return { status: 503 };
    try {
      const msg = await nc.request(wsApiSubject(this.cluster, nodeId), JSON.stringify(op), { timeout: timeoutMs });
      const r = JSON.parse(msg.string()) as WsApiReply;
      return typeof r.status === 'number' ? r : { status: 502 };
    } catch (e) {
      // No responders: no node of that id is up, so none of its connections is open.
      const text = String((e as Error).message ?? e) + String((e as { code?: unknown }).code ?? '');
      if (/no responders|503/i.test(text)) return { status: 410 };
      if (/timeout/i.test(text)) return { status: 504 };
      return { status: 503 };
    }
  }

  serve(nodeId: string, handle: (op: WsApiOp) => Promise<WsApiReply>): { stop(): void } {
    const subject = wsApiSubject(this.cluster, nodeId);
    let sub: Subscription | null = null;
    let on: NatsConnection | null = null;
    let stopped = false;
    // The node's connection may come up (or be replaced) after this starts: attach to whichever is current.
    const attach = (): void => {
      if (stopped) return;
      const nc = this.connection();
      if (!nc || nc.isClosed() || nc === on) return;
      on = nc;
      sub = nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          let op: WsApiOp | null = null;
          try {
            op = parseWsApiOp(JSON.parse(msg.string()));
          } catch {
            op = null;
          }
          if (op === null) return void msg.respond(JSON.stringify({ status: 400 }));
          handle(op).then(
            (r) => msg.respond(JSON.stringify(r)),
            () => msg.respond(JSON.stringify({ status: 500 })),
          );
        },
      });
    };
    attach();
    const timer = setInterval(attach, RETRY_SUBSCRIBE_MS);
    timer.unref();
    return {
      stop: () => {
        stopped = true;
        clearInterval(timer);
        try {
          sub?.unsubscribe();
        } catch {
          // Closed with its connection.
        }
      },
    };
  }
}
