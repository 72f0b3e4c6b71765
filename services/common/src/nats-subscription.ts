// A core NATS subscription to JSON messages for a connection owned by someone else (a config source that
// connects and reconnects in the background): attached as soon as the owner has a connection, attached
// again when the owner replaces it (a core subscription survives reconnects of one connection, not a new
// connection), messages that do not parse dropped.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';

export interface JsonSubscription {
  stop(): void;
}

/**
 * `parse` returns null for a message that is not one (dropped). `checkEveryMs`: how often the owner's
 * connection is looked at; short, since messages sent before the subscription is attached are not seen.
 */
export function subscribeJson<T>(
  connection: () => NatsConnection | undefined,
  subject: string,
  parse: (value: unknown) => T | null,
  onMessage: (message: T) => void,
  checkEveryMs = 50,
): JsonSubscription {
  let sub: Subscription | null = null;
  let on: NatsConnection | null = null;
  let stopped = false;
  const attach = (): void => {
    if (stopped) return;
    const nc = connection();
    if (!nc || nc.isClosed() || nc === on) return;
    on = nc;
    sub = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        let m: T | null;
        try {
          m = parse(JSON.parse(msg.string()));
        } catch {
          return;
        }
        if (m !== null) onMessage(m);
      },
    });
  };
  attach();
  const timer = setInterval(attach, checkEveryMs);
  timer.unref();
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
      try {
        sub?.unsubscribe();
      } catch {
        // Already closed with its connection.
      }
    },
  };
}
