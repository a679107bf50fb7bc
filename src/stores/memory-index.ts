/**
 * The MemoryStore's path and tag indexes: a name files one slot, or a set of slots once it
 * is shared (a name that a single entry carries, the usual case, costs no Set).
 */

/**
 * The slots filed under one path or tag, once there are two or more. It keeps the name's
 * first string, so each variant's copy of the name (the cache builds one per write) is
 * shared, not retained per entry.
 */
export class Members extends Set<number> {
  constructor(readonly name: string) {
    super();
  }
}

/** One slot, or the set of them: a name that a single entry carries (the usual case) costs no Set. */
export type Filed = number | Members;

/** Files `slot` under `name`; returns the name's shared string (`nameAt(other)` reads a lone member's). */
export function file(map: Map<string, Filed>, name: string, slot: number, nameAt: (other: number) => string): string {
  const filed = map.get(name);
  if (filed === undefined) {
    map.set(name, slot);
    return name;
  }
  if (typeof filed !== 'number') {
    filed.add(slot);
    return filed.name;
  }
  // A duplicate tag in one entry's list files it once.
  if (filed === slot) return name;
  const members = new Members(nameAt(filed));
  members.add(filed).add(slot);
  map.set(name, members);
  return members.name;
}

export function unfile(map: Map<string, Filed>, name: string, slot: number): void {
  const filed = map.get(name);
  if (filed === slot) map.delete(name);
  else if (filed !== undefined && typeof filed !== 'number' && filed.delete(slot)) {
    if (filed.size === 0) map.delete(name);
  }
}

export function sizeOf(filed: Filed | undefined): number {
  return filed === undefined ? 0 : typeof filed === 'number' ? 1 : filed.size;
}

export function collect(filed: Filed, into: number[]): void {
  if (typeof filed === 'number') into.push(filed);
  else for (const s of filed) into.push(s);
}
