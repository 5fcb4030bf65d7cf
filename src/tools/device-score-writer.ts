import type { EntityManager } from 'typeorm';

import { DEVICE_SCORES_MODEL, HEALTH_STATE_ENUM } from '../device-scores/device-scores.model.js';
import type { PropertyModel } from '../odata/query/entity-model.js';

/** One device scores entity to write, keyed by wire property names, with a lower-case id. */
export interface DeviceScoreRecord {
  id: string;
  /** The properties to store. Properties left out keep their stored value or get the default. */
  values: Record<string, unknown>;
}

/** Row counts of one write, by outcome. */
export interface WriteCounts {
  inserted: number;
  updated: number;
  /** Rows that existed with exactly these values, so nothing was written. */
  unchanged: number;
}

const POSTGRES_ARRAY_TYPES: Record<PropertyModel['kind'], string> = {
  guid: 'uuid[]',
  string: 'text[]',
  double: 'float8[]',
  enum: 'int2[]',
};

const HEALTH_VALUES = new Map(
  HEALTH_STATE_ENUM.members.map((member) => [member.name, member.value]),
);

const WRITABLE_PROPERTIES = DEVICE_SCORES_MODEL.properties.filter(
  (property) => property.name !== DEVICE_SCORES_MODEL.key,
);

function columnValue(property: PropertyModel, value: unknown): unknown {
  return property.kind === 'enum' ? HEALTH_VALUES.get(String(value)) : value;
}

/**
 * Inserts or updates device scores of one tenant by id, with one statement per set of named
 * properties. An existing row gets only the named properties, a new version and a new update
 * time, unless it already has those values. A new row gets the table defaults for the rest.
 * Run it inside TenantDatabase.run, so row-level security checks every row. A later record with
 * the id of an earlier one in the same call wins.
 */
export async function upsertDeviceScores(
  manager: EntityManager,
  tenantId: string,
  records: readonly DeviceScoreRecord[],
): Promise<WriteCounts> {
  const counts: WriteCounts = { inserted: 0, updated: 0, unchanged: 0 };
  for (const group of groupByNamedProperties(lastRecordPerId(records))) {
    const written = await upsertGroup(manager, tenantId, group.properties, group.records);
    counts.inserted += written.inserted;
    counts.updated += written.updated;
    counts.unchanged += written.unchanged;
  }

  return counts;
}

/** Keeps the last record of each id, because one statement cannot change a row twice. */
function lastRecordPerId(records: readonly DeviceScoreRecord[]): DeviceScoreRecord[] {
  const byId = new Map<string, DeviceScoreRecord>();
  for (const record of records) {
    byId.delete(record.id);
    byId.set(record.id, record);
  }

  return [...byId.values()];
}

function groupByNamedProperties(records: readonly DeviceScoreRecord[]) {
  const groups = new Map<string, { properties: PropertyModel[]; records: DeviceScoreRecord[] }>();
  for (const record of records) {
    const properties = WRITABLE_PROPERTIES.filter((property) => property.name in record.values);
    const key = properties.map((property) => property.name).join(',');
    let group = groups.get(key);
    if (group === undefined) {
      group = { properties, records: [] };
      groups.set(key, group);
    }
    group.records.push(record);
  }

  return groups.values();
}

async function upsertGroup(
  manager: EntityManager,
  tenantId: string,
  properties: readonly PropertyModel[],
  records: readonly DeviceScoreRecord[],
): Promise<WriteCounts> {
  const columns = properties.map((property) => property.column);
  const arrays = properties.map((property) =>
    records.map((record) => columnValue(property, record.values[property.name])),
  );
  const unnestArguments = [
    '$2::uuid[]',
    ...properties.map((property, index) => `$${index + 3}::${POSTGRES_ARRAY_TYPES[property.kind]}`),
  ];
  const conflict =
    columns.length === 0
      ? 'DO NOTHING'
      : `DO UPDATE SET ${columns.map((column) => `${column} = EXCLUDED.${column}`).join(', ')},
           row_version = ds.row_version + 1, updated_at = now()
         WHERE (${columns.map((column) => `ds.${column}`).join(', ')})
           IS DISTINCT FROM (${columns.map((column) => `EXCLUDED.${column}`).join(', ')})`;

  const rows = await manager.query<Array<{ inserted: boolean }>>(
    `INSERT INTO device_scores AS ds (tenant_id, id${columns.map((column) => `, ${column}`).join('')})
     SELECT $1::uuid, * FROM unnest(${unnestArguments.join(', ')})
     ON CONFLICT (tenant_id, id) ${conflict}
     RETURNING (xmax = 0) AS inserted`,
    [tenantId, records.map((record) => record.id), ...arrays],
  );

  const inserted = rows.filter((row) => row.inserted).length;

  return {
    inserted,
    updated: rows.length - inserted,
    unchanged: records.length - rows.length,
  };
}
