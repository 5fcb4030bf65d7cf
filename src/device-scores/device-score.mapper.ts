import {
  type JsonWritableEntity,
  WRITE_ENTITY_JSON,
} from '../odata/http/odata-response.interceptor.js';
import type { WireEntity } from '../odata/http/odata-result.js';
import type { MetadataLevel } from '../odata/http/request-context.js';
import type { PropertyModel, Surface } from '../odata/query/entity-model.js';
import { DEVICE_SCORES_ODATA_TYPE } from './device-score-body.js';
import { DEVICE_SCORES_MODEL, HEALTH_STATE_ENUM } from './device-scores.model.js';

/** A device_scores row as PostgreSQL returns it, keyed by column name. */
export type DeviceScoreRow = Record<string, unknown>;

/** A device score in the wire shape: its id, and a writer of its JSON text. */
export type DeviceScoreResource = WireEntity & JsonWritableEntity;

/** Turns one row into its wire representation. */
export type DeviceScoreMapper = (row: DeviceScoreRow) => DeviceScoreResource;

/** JSON text of each health status member name, by stored value. */
const HEALTH_JSON = new Map(
  HEALTH_STATE_ENUM.members.map((member) => [member.value, JSON.stringify(member.name)]),
);
const UNKNOWN_HEALTH_JSON = JSON.stringify('unknownFutureValue');
const TYPE_MEMBER = `"@odata.type":${JSON.stringify(DEVICE_SCORES_ODATA_TYPE)}`;

/** A property to write: its JSON member prefix (`"name":`), column and value kind. */
interface WrittenProperty {
  prefix: string;
  column: string;
  kind: PropertyModel['kind'];
}

/** The properties of each surface in wire order, computed once instead of for every row. */
const SURFACE_PROPERTIES: Readonly<Record<Surface, readonly PropertyModel[]>> = {
  beta: DEVICE_SCORES_MODEL.properties.filter((property) => property.surfaces.includes('beta')),
  'v1.0': DEVICE_SCORES_MODEL.properties.filter((property) => property.surfaces.includes('v1.0')),
};

/**
 * Returns a mapper from rows to the Graph representation in wire order: `@odata.type`,
 * `@odata.etag`, then the properties. With a selection, only the selected properties appear.
 * Scores stay JSON numbers, and health status becomes its member name. The property list is
 * resolved here once per page. Each entity writes its JSON text straight from its row when the
 * response is rendered, because building an object per entity for JSON.stringify was a
 * measurable part of the time of a page.
 */
export function deviceScoreMapper(surface: Surface, select?: readonly string[]): DeviceScoreMapper {
  const selected = select !== undefined && select.length > 0 ? new Set(select) : undefined;
  const properties: WrittenProperty[] = SURFACE_PROPERTIES[surface]
    .filter((property) => selected === undefined || selected.has(property.name))
    .map((property) => ({
      prefix: `${JSON.stringify(property.name)}:`,
      column: property.column,
      kind: property.kind,
    }));

  return (row) => ({
    id: row.id,
    [WRITE_ENTITY_JSON]: (metadata, editLink) => writeEntity(row, properties, metadata, editLink),
  });
}

function writeEntity(
  row: DeviceScoreRow,
  properties: readonly WrittenProperty[],
  metadata: MetadataLevel,
  editLink: string | undefined,
): string {
  let json = '{';
  if (metadata !== 'none') {
    json += TYPE_MEMBER;
    if (metadata === 'full' && editLink !== undefined) {
      const link = JSON.stringify(editLink);
      json += `,"@odata.id":${link},"@odata.editLink":${link}`;
    }
    json += `,"@odata.etag":${JSON.stringify(etagOf(row))}`;
  }
  for (const property of properties) {
    json += json.length === 1 ? property.prefix : `,${property.prefix}`;
    json += valueJson(row[property.column], property.kind);
  }
  return `${json}}`;
}

/** Returns the JSON text of a column value, as JSON.stringify writes the mapped value. */
function valueJson(value: unknown, kind: PropertyModel['kind']): string {
  switch (kind) {
    case 'enum':
      return HEALTH_JSON.get(Number(value)) ?? UNKNOWN_HEALTH_JSON;
    case 'double': {
      const number = Number(value);
      return Number.isFinite(number) ? String(number) : 'null';
    }
    case 'guid':
    case 'string':
      return value === null || value === undefined ? 'null' : JSON.stringify(value);
  }
}

/** Maps one row to the Graph representation; see deviceScoreMapper. */
export function toDeviceScoreResource(
  row: DeviceScoreRow,
  surface: Surface,
  select?: readonly string[],
): DeviceScoreResource {
  return deviceScoreMapper(surface, select)(row);
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
