// The one way values enter ClickHouse SQL text. ClickHouse 18.16 has no server-side query parameters,
// so values are bound client-side here, strictly by type: anything that is not a known, valid value
// throws instead of being stringified.

/** A fragment of SQL whose values are already escaped; only `sql` and the helpers below create one. */
export class Sql {
  readonly #text: string;
  /** @internal use `sql`, `ident`, `dateTime`… — the constructor is not for values. */
  constructor(text: string, token: typeof SQL_TOKEN) {
    if (token !== SQL_TOKEN) throw new TypeError('Sql fragments are built with sql`...` or the typed helpers');
    this.#text = text;
  }
  get text(): string {
    return this.#text;
  }
  toString(): string {
    return this.#text;
  }
}

const SQL_TOKEN: unique symbol = Symbol('sql');

export class SqlBindError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'SqlBindError';
  }
}

/**
 * A value that may be interpolated into `sql`:
 * - string → String literal ('…' with backslash escapes)
 * - number → integer literal; must be a safe integer (use `float()` for non-integers)
 * - bigint → integer literal
 * - boolean → 1 / 0
 * - array of values → `[a, b, …]`
 * - Sql → inlined as is (fragments compose)
 */
export type SqlValue = string | number | bigint | boolean | Sql | readonly SqlValue[];

/** Tagged template: `sql\`SELECT * FROM ${ident(db)}.calls WHERE status = ${404}\``. */
export function sql(strings: TemplateStringsArray, ...values: SqlValue[]): Sql {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) {
    out += literal(values[i] as SqlValue) + (strings[i + 1] ?? '');
  }
  return new Sql(out, SQL_TOKEN);
}

/** Joins fragments with a separator (itself plain SQL text chosen by the caller, not a value). */
export function join(parts: readonly Sql[], separator: string): Sql {
  return new Sql(parts.map((p) => p.text).join(separator), SQL_TOKEN);
}

/** Float literal; NaN and ±Infinity are refused. */
export function float(n: number): Sql {
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new SqlBindError(`not a finite number: ${String(n)}`);
  // String(n) of a finite number is a valid ClickHouse literal (e.g. 1.5, 1e+21, -0.001).
  return new Sql(String(n), SQL_TOKEN);
}

/**
 * DateTime from milliseconds since the epoch, truncated to the second: `toDateTime(<sec>)`.
 * A Unix timestamp is time-zone free, so the server's time zone never shifts the value.
 */
export function dateTime(ms: number): Sql {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_DATETIME_MS) {
    throw new SqlBindError(`not a DateTime in range: ${String(ms)}`);
  }
  return new Sql(`toDateTime(${Math.floor(ms / 1000)})`, SQL_TOKEN);
}
// DateTime is UInt32 seconds.
const MAX_DATETIME_MS = 0xffffffff * 1000;

const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** An identifier (database, table, column) that must match `[A-Za-z_][A-Za-z0-9_]*`; quoted with backticks. */
export function ident(name: string): Sql {
  if (typeof name !== 'string' || !IDENT_RE.test(name)) throw new SqlBindError(`invalid identifier: ${JSON.stringify(name)}`);
  return new Sql('`' + name + '`', SQL_TOKEN);
}

export function isIdentifier(name: string): boolean {
  return IDENT_RE.test(name);
}

/** The SQL literal for one value (exported for tests and for callers building IN lists). */
export function literal(v: SqlValue): string {
  if (v instanceof Sql) return v.text;
  switch (typeof v) {
    case 'string':
      return quoteString(v);
    case 'number':
      if (!Number.isSafeInteger(v)) throw new SqlBindError(`not a safe integer: ${String(v)} (use float() for non-integers)`);
      // -0 prints as "0", which is what we want.
      return String(v);
    case 'bigint':
      return v.toString();
    case 'boolean':
      return v ? '1' : '0';
    default:
      if (Array.isArray(v)) return '[' + v.map((x: SqlValue) => literal(x)).join(', ') + ']';
      throw new SqlBindError(`cannot bind a value of type ${v === null ? 'null' : typeof v}`);
  }
}

// Backslash escapes are what ClickHouse's string literal parser understands on every version;
// control characters become \xHH so the SQL text stays on one line and printable.
const NEEDS_ESCAPE = /[\\'\u0000-\u001f\u007f]/g;
const NAMED: Record<string, string> = { '\\': '\\\\', "'": "\\'", '\n': '\\n', '\r': '\\r', '\t': '\\t', '\0': '\\0', '\b': '\\b', '\f': '\\f' };

export function quoteString(s: string): string {
  if (typeof s !== 'string') throw new SqlBindError(`not a string: ${String(s)}`);
  return "'" + s.replace(NEEDS_ESCAPE, (c) => NAMED[c] ?? '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0')) + "'";
}
