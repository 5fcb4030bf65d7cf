import type { WireEntity } from '../odata/http/odata-result.js';
import type { Surface } from '../odata/query/entity-model.js';
import { DEVICE_SCORES_ODATA_TYPE } from './device-score-body.js';
import { DEVICE_SCORES_MODEL, HEALTH_STATE_ENUM } from './device-scores.model.js';

/** A device_scores row as PostgreSQL returns it, keyed by column name. */
export type DeviceScoreRow = Record<string, unknown>;

const HEALTH_NAMES = new Map(
  HEALTH_STATE_ENUM.members.map((member) => [member.value, member.name]),
);

/**
 * Maps a row to the Graph representation in wire order. With a selection, only the selected
 * properties appear. Scores stay JSON numbers, and health status becomes its member name.
 */
export function toDeviceScoreResource(
  row: DeviceScoreRow,
  surface: Surface,
  select?: readonly string[],
): WireEntity {
  const selected = select !== undefined && select.length > 0 ? new Set(select) : undefined;
  const entity: WireEntity = {
    '@odata.type': DEVICE_SCORES_ODATA_TYPE,
    '@odata.etag': etagOf(row),
  };

  for (const property of DEVICE_SCORES_MODEL.properties) {
    if (!property.surfaces.includes(surface) || (selected && !selected.has(property.name))) {
      continue;
    }
    const value = row[property.column];
    if (property.kind === 'enum') {
      entity[property.name] = HEALTH_NAMES.get(Number(value)) ?? 'unknownFutureValue';
    } else if (property.kind === 'double') {
      entity[property.name] = Number(value);
    } else {
      entity[property.name] = value ?? null;
    }
  }
  return entity;
}

/**
 * Returns the entity tag of a row. The version changes on every write, and the creation time in
 * microseconds keeps a deleted and re-created entity from reusing an old tag.
 */
export function etagOf(row: DeviceScoreRow): string {
  return `W/"${String(row.row_version)}-${String(row.created_us)}"`;
}

/** Every column the mapper, the entity tag and keyset paging may read, for SELECT lists. */
export const DEVICE_SCORE_COLUMNS = [
  ...DEVICE_SCORES_MODEL.properties.map((property) => property.column),
  'row_version',
];

/** Returns the SQL for the creation time in whole microseconds as text, from the given table alias. */
export function createdMicrosExpression(alias?: string): string {
  const column = alias === undefined ? 'created_at' : `${alias}.created_at`;
  return `floor(extract(epoch from ${column}) * 1000000)::bigint::text AS "created_us"`;
}
