// The PostgreSQL pool. int8 columns come back as strings from postgres.js; callers convert with Number()
// (revisions and sequences stay far below 2^53).
import postgres, { type Sql } from 'postgres';

export function connectPostgres(url: string, max = 10): Sql {
  return postgres(url, { max, onnotice: () => undefined });
}
