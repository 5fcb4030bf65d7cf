import type { WireEntity } from '../odata/http/odata-result.js';
import type { PropertyModel, Surface } from '../odata/query/entity-model.js';
import { MODEL_SCORES_MODEL, MODEL_SCORES_ODATA_TYPE } from './model-scores.model.js';

/** A row of the `model_scores` view as PostgreSQL returns it, keyed by column name. */
export type ModelScoreRow = Record<string, unknown>;

const HEALTH_NAMES = new Map(
  (
    MODEL_SCORES_MODEL.properties.find((property) => property.kind === 'enum')?.enum?.members ?? []
  ).map((member) => [member.value, member.name]),
);

const SURFACE_PROPERTIES: Readonly<Record<Surface, readonly PropertyModel[]>> = {
  beta: MODEL_SCORES_MODEL.properties.filter((property) => property.surfaces.includes('beta')),
  'v1.0': MODEL_SCORES_MODEL.properties.filter((property) => property.surfaces.includes('v1.0')),
};

/**
 * Returns a mapper from view rows to the Graph representation in wire order, with only the
 * selected properties when there is a selection. Scores and the device count are JSON numbers,
 * and health status is its member name.
 */
export function modelScoreMapper(
  surface: Surface,
  select?: readonly string[],
): (row: ModelScoreRow) => WireEntity {
  const selected = select !== undefined && select.length > 0 ? new Set(select) : undefined;
  const properties = SURFACE_PROPERTIES[surface].filter(
    (property) => selected === undefined || selected.has(property.name),
  );

  return (row) => {
    const entity: WireEntity = { '@odata.type': MODEL_SCORES_ODATA_TYPE };
    for (const property of properties) {
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
  };
}
