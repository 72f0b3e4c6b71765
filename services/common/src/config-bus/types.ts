// ConfigBus: how config entities travel from the control plane to gateway nodes.
// Two implementations behind one interface: NATS JetStream KV (cluster) and in-process (turnpike up).

export type ConfigEvent =
  | { op: 'put'; key: string; value: string; revision: number }
  | { op: 'del'; key: string; revision: number };

export interface ConfigWatch {
  stop(): Promise<void>;
}

export interface ConfigWatchHandlers {
  /** Called for every initial value, then for every live change, in order. */
  onEvent(ev: ConfigEvent): void;
  /** Called once after the initial values have all been delivered (also when the bucket is empty). */
  onInitialDone(): void;
}

export interface ConfigBus {
  put(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
  get(key: string): Promise<string | null>;
  /** All live keys (deleted keys excluded). */
  keys(): Promise<string[]>;
  watch(handlers: ConfigWatchHandlers): Promise<ConfigWatch>;
  close(): Promise<void>;
}
