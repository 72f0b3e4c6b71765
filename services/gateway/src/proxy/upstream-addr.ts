// The call record's upstream_addr: a target's origin (`http://h:p`) as `h:p`, cached per origin so that a
// record adds no string (targets are few and long-lived; the cache is cleared if config churn grows it).
const addrs = new Map<string, string>();

export function upstreamAddrOf(origin: string): string {
  let a = addrs.get(origin);
  if (a === undefined) {
    const i = origin.indexOf('://');
    a = i === -1 ? origin : origin.slice(i + 3);
    if (addrs.size >= 10_000) addrs.clear();
    addrs.set(origin, a);
  }
  return a;
}
