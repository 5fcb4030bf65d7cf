import { parseDeviceScoreBody } from '../device-scores/device-score-body.js';
import { DEVICE_SCORES_MODEL } from '../device-scores/device-scores.model.js';
import { GraphException } from '../odata/http/graph-error.js';
import type { PropertyModel, Surface } from '../odata/query/entity-model.js';
import type { DeviceScoreRecord } from './device-score-writer.js';

/** A row the import did not write, with where it came from and why. */
export interface Rejection {
  /** Position of the row in its source, such as "line 12" or "page 3, item 7". */
  location: string;
  id?: string;
  reason: string;
}

export type CheckedRow = { record: DeviceScoreRecord } | { rejection: Rejection };

/**
 * Checks one exported entity with the rules the API applies to a create body, and requires an id,
 * because the import upserts by id. Annotations such as @odata.etag are ignored.
 */
export function checkImportRow(value: unknown, surface: Surface, location: string): CheckedRow {
  const id =
    typeof value === 'object' && value !== null ? (value as { id?: unknown }).id : undefined;
  const idText = typeof id === 'string' ? id : undefined;
  let body;
  try {
    body = parseDeviceScoreBody(value, surface, 'create');
  } catch (error) {
    if (error instanceof GraphException) {
      return { rejection: { location, id: idText, reason: error.message } };
    }
    throw error;
  }
  if (body.id === undefined) {
    return {
      rejection: { location, reason: "The row has no 'id'. The import matches rows by id." },
    };
  }

  const { id: checkedId, ...values } = body;

  return { record: { id: checkedId.toLowerCase(), values } };
}

const DECIMAL_NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/**
 * Turns CSV cells into the JSON an API client would send: numbers for scores, null for an empty
 * text cell, and nothing for other empty cells. Text that is not a number stays text, so the
 * body check names the property.
 */
export function csvCellValue(property: PropertyModel | undefined, cell: string): unknown {
  if (property === undefined) {
    return cell === '' ? undefined : cell;
  }
  switch (property.kind) {
    case 'double':
      if (cell.trim() === '') {
        return undefined;
      }
      return DECIMAL_NUMBER.test(cell.trim()) ? Number(cell.trim()) : cell;
    case 'string':
      return cell === '' ? null : cell;
    case 'guid':
    case 'enum':
      return cell.trim() === '' ? undefined : cell.trim();
  }
}

/**
 * Checks a CSV header and returns the property of each column; an @odata annotation column has
 * none. Throws when a column is unknown or repeated, or `id` is missing, because then no row
 * could be imported.
 */
export function csvColumns(
  header: readonly string[],
  surface: Surface,
): (PropertyModel | undefined)[] {
  const seen = new Set<string>();
  const columns = header.map((name) => {
    if (seen.has(name)) {
      throw new Error(`The CSV header names the column '${name}' twice.`);
    }
    seen.add(name);
    if (name.startsWith('@odata.')) {
      return undefined;
    }
    const property = DEVICE_SCORES_MODEL.properties.find(
      (candidate) => candidate.name === name && candidate.surfaces.includes(surface),
    );
    if (property === undefined) {
      throw new Error(
        `The CSV header has the column '${name}', which is not a property of ` +
          `userExperienceAnalyticsDeviceScores on the ${surface} surface. Use the property ` +
          'names of the API, such as deviceName and endpointAnalyticsScore.',
      );
    }
    return property;
  });
  if (!seen.has(DEVICE_SCORES_MODEL.key)) {
    throw new Error("The CSV header has no 'id' column. The import matches rows by id.");
  }

  return columns;
}
