// JSON text written with a size and depth bound: a template that inserts a large document many times, or a
// deeply nested one, fails with TransformRenderError before it builds the whole text (JSON.stringify would
// build it all first, or overflow the stack).

/** Rendering went past a bound; the message says which. */
export class TransformRenderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransformRenderError';
  }
}

/** Characters (UTF-16 code units) a rendered body may have. */
export const MAX_OUTPUT_CHARS = 1 << 20;
/** Nesting a rendered body may have, template and inserted values together. */
export const MAX_OUTPUT_DEPTH = 64;

export class JsonWriter {
  private readonly parts: string[] = [];
  private size = 0;
  constructor(private readonly max: number = MAX_OUTPUT_CHARS) {}

  /** Appends JSON text as is. */
  raw(s: string): void {
    this.size += s.length;
    if (this.size > this.max) throw new TransformRenderError(`rendered output is larger than ${this.max} characters`);
    this.parts.push(s);
  }

  /** Appends `v` (parsed JSON or a template's value) as JSON; `depth` is the nesting it sits at. */
  value(v: unknown, depth: number): void {
    if (v === undefined || v === null) return this.raw('null');
    switch (typeof v) {
      case 'string':
        // Check before escaping: a huge string fails without being copied.
        if (this.size + v.length > this.max) throw new TransformRenderError(`rendered output is larger than ${this.max} characters`);
        return this.raw(JSON.stringify(v));
      case 'number':
        return this.raw(Number.isFinite(v) ? String(v) : 'null');
      case 'boolean':
        return this.raw(v ? 'true' : 'false');
      case 'object':
        break;
      default:
        return this.raw('null');
    }
    if (depth >= MAX_OUTPUT_DEPTH) throw new TransformRenderError(`rendered output nests deeper than ${MAX_OUTPUT_DEPTH} levels`);
    if (Array.isArray(v)) {
      this.raw('[');
      for (let i = 0; i < v.length; i++) {
        if (i > 0) this.raw(',');
        this.value(v[i], depth + 1);
      }
      return this.raw(']');
    }
    this.raw('{');
    let first = true;
    for (const k of Object.keys(v)) {
      const item = (v as Record<string, unknown>)[k];
      if (item === undefined) continue;
      if (!first) this.raw(',');
      first = false;
      this.raw(JSON.stringify(k));
      this.raw(':');
      this.value(item, depth + 1);
    }
    this.raw('}');
  }

  text(): string {
    return this.parts.join('');
  }
}

/** `v` as JSON text within the bounds; throws TransformRenderError. */
export function boundedJson(v: unknown, max: number = MAX_OUTPUT_CHARS): string {
  const w = new JsonWriter(max);
  w.value(v, 0);
  return w.text();
}
