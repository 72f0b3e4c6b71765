// Progress of `turnpike apply`. A few operations: one line each, as they finish (`[3/12] created route "a"`).
// Many: a line per kind when its run of operations ends and a counter every few seconds, so that a
// 200,000-entity file does not print 200,000 lines. Keys and secrets the control plane generates are shown
// once, so they are always printed, with the entity they belong to.
import { describeTarget } from './diff-render.js';
import type { Operation } from './plan.js';
import { KIND_LABEL } from './resource-kinds.js';

/** Below this many operations every one gets its own line. */
export const DETAILED_UP_TO = 50;

export interface ProgressOptions {
  total: number;
  print?: (line: string) => void;
  /** Milliseconds between counter lines in summary mode. */
  intervalMs?: number;
  now?: () => number;
}

type Verb = 'created' | 'updated' | 'deleted' | 'revoked' | 'rejected';

export class ApplyProgress {
  private readonly total: number;
  private readonly print: (line: string) => void;
  private readonly detailed: boolean;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private done = 0;
  private lastPrint: number;
  /** The kind whose operations are finishing now and its counts by verb (summary mode). */
  private kind: string | undefined;
  private counts = new Map<Verb, number>();

  constructor(o: ProgressOptions) {
    this.total = o.total;
    this.print = o.print ?? ((line) => console.log(line));
    this.detailed = o.total < DETAILED_UP_TO;
    this.intervalMs = o.intervalMs ?? 5_000;
    this.now = o.now ?? (() => performance.now());
    this.lastPrint = this.now();
  }

  operationDone(op: Operation, info: { generatedKey?: string; generatedSecret?: string }): void {
    const verb = verbOf(op);
    if (this.detailed) {
      this.done++;
      this.print(`[${this.done}/${this.total}] ${verb} ${describeTarget(op)}`);
      if (info.generatedKey !== undefined) this.print(`      key: ${info.generatedKey}  (shown once: store it now)`);
      if (info.generatedSecret !== undefined) this.print(`      secret: ${info.generatedSecret}  (generated; shown once: store it now)`);
      return;
    }
    const kind = kindLabel(op);
    if (kind !== this.kind) this.flush();
    this.done++;
    this.kind = kind;
    this.counts.set(verb, (this.counts.get(verb) ?? 0) + 1);
    // The same `key: …  (shown once` text as one line per operation prints (scripts look for it), then whose.
    if (info.generatedKey !== undefined) this.print(`      key: ${info.generatedKey}  (shown once: store it now) for ${describeTarget(op)}`);
    if (info.generatedSecret !== undefined) this.print(`      secret: ${info.generatedSecret}  (generated; shown once: store it now) for ${describeTarget(op)}`);
    if (this.now() - this.lastPrint >= this.intervalMs) {
      this.print(`[${this.done}/${this.total}] ${this.kind}: ${this.describeCounts()} so far`);
      this.lastPrint = this.now();
    }
  }

  /** Prints the counts of the kind in progress (summary mode); call when the run ends, failed or not. */
  flush(): void {
    if (this.detailed || this.kind === undefined || this.counts.size === 0) return;
    this.print(`[${this.done}/${this.total}] ${this.kind}: ${this.describeCounts()}`);
    this.counts = new Map();
    this.lastPrint = this.now();
  }

  private describeCounts(): string {
    return [...this.counts].map(([verb, n]) => `${n} ${verb}`).join(', ');
  }
}

function verbOf(op: Operation): Verb {
  if (op.action === 'create') return 'created';
  if (op.action === 'update') return 'updated';
  const transition = 'transition' in op ? op.transition : undefined;
  return transition === 'revoke' ? 'revoked' : transition === 'reject' ? 'rejected' : 'deleted';
}

/** `routes`, `keys`, `AI providers`: what a counter line counts. */
function kindLabel(op: Operation): string {
  const label = op.kind in KIND_LABEL ? KIND_LABEL[op.kind as keyof typeof KIND_LABEL] : op.kind;
  return `${label}s`;
}
