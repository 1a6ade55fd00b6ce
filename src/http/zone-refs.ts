/**
 * A configured zone as operations name it (shared-zones.ts's ZoneRef), made
 * once per declaration.
 */

import type { SharedZoneDecl } from "../config/modules/shared-zones.js";
import type { StoredKind, ZoneRef } from "./shared-zones.js";

const refs = new WeakMap<SharedZoneDecl<StoredKind>, ZoneRef>();

/** A zone the store holds (limit_conn, limit_req); not an upstream's. */
export function isStored(zone: SharedZoneDecl): zone is SharedZoneDecl<StoredKind> {
  return zone.kind !== "upstream";
}

export function zoneRef(zone: SharedZoneDecl<StoredKind>): ZoneRef {
  let ref = refs.get(zone);
  if (ref === undefined) {
    ref = { kind: zone.kind, name: zone.name, size: zone.size, key: zone.key?.source ?? "" };
    refs.set(zone, ref);
  }
  return ref;
}

/** 1500 (thousandths) as nginx prints an excess: "1.500". */
export function excessText(excess: number): string {
  return `${Math.floor(excess / 1000)}.${String(excess % 1000).padStart(3, "0")}`;
}
