import { plainToInstance } from 'class-transformer';
import {
  IsIn,
  ValidateIf,
  registerDecorator,
  validateSync,
  type ValidationOptions,
} from 'class-validator';

import { badRequest } from '../odata/http/graph-error.js';
import type { Surface } from '../odata/query/entity-model.js';
import { DEVICE_SCORES_MODEL, HEALTH_STATE_ENUM } from './device-scores.model.js';

export const DEVICE_SCORES_ODATA_TYPE = '#microsoft.graph.userExperienceAnalyticsDeviceScores';
export const MAX_TEXT_LENGTH = 256;
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const HEALTH_MEMBERS = HEALTH_STATE_ENUM.members.map((member) => member.name);

/** Checks that the value is a finite JSON number that is -1 (score unavailable) or from 0 to 100. */
export function isScore(value: unknown): value is number {
  return (
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (value === -1 || (value >= 0 && value <= 100))
  );
}

/**
 * Checks that the value is text PostgreSQL stores unchanged: at most 256 code points, no U+0000
 * (text columns reject it) and no lone surrogate (it would be stored as U+FFFD).
 */
export function isStorableText(value: unknown): value is string {
  if (typeof value !== 'string' || value.includes('\u0000') || !value.isWellFormed()) {
    return false;
  }
  let codePoints = 0;
  for (const _ of value) {
    codePoints += 1;
    if (codePoints > MAX_TEXT_LENGTH) {
      return false;
    }
  }
  return true;
}

function IsScore(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isScore',
      target: target.constructor,
      propertyName: propertyName as string,
      options: {
        message: (args) =>
          `Invalid value for property '${args.property}': expected a JSON number that is -1 ` +
          `(score unavailable) or from 0 to 100.`,
        ...options,
      },
      validator: { validate: (value: unknown) => isScore(value) },
    });
}

function IsStorableText(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isStorableText',
      target: target.constructor,
      propertyName: propertyName as string,
      options: {
        message: (args) =>
          `Invalid value for property '${args.property}': expected a string of at most ` +
          `${MAX_TEXT_LENGTH} characters without U+0000 or unpaired surrogates, or null.`,
        ...options,
      },
      validator: { validate: (value: unknown) => isStorableText(value) },
    });
}

function IsGuidText(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isGuidText',
      target: target.constructor,
      propertyName: propertyName as string,
      options: {
        message: (args) =>
          `Invalid value for property '${args.property}': expected a GUID such as ` +
          `'0dd9f6cf-f6cf-0dd9-cff6-d90dcff6d90d'.`,
        ...options,
      },
      validator: { validate: (value: unknown) => typeof value === 'string' && GUID.test(value) },
    });
}

const isPresent = (_object: object, value: unknown): boolean => value !== undefined;
const isPresentAndNotNull = (_object: object, value: unknown): boolean =>
  value !== undefined && value !== null;

/**
 * The writable properties of a device scores body. Nothing is converted: a score sent as "87.5"
 * stays a string and fails, and null is checked by the same rule as any other value, so it is
 * accepted only where the property is nullable.
 */
export class DeviceScoreBody {
  @ValidateIf(isPresent)
  @IsGuidText()
  id?: string;

  @ValidateIf(isPresentAndNotNull)
  @IsStorableText()
  deviceName?: string | null;

  @ValidateIf(isPresentAndNotNull)
  @IsStorableText()
  model?: string | null;

  @ValidateIf(isPresentAndNotNull)
  @IsStorableText()
  manufacturer?: string | null;

  @ValidateIf(isPresent)
  @IsScore()
  endpointAnalyticsScore?: number;

  @ValidateIf(isPresent)
  @IsScore()
  startupPerformanceScore?: number;

  @ValidateIf(isPresent)
  @IsScore()
  appReliabilityScore?: number;

  @ValidateIf(isPresent)
  @IsScore()
  workFromAnywhereScore?: number;

  @ValidateIf(isPresent)
  @IsScore()
  batteryHealthScore?: number;

  @ValidateIf(isPresent)
  @IsScore()
  meanResourceSpikeTimeScore?: number;

  @ValidateIf(isPresent)
  @IsIn(HEALTH_MEMBERS, {
    message: `Invalid value for property 'healthStatus': expected one of ${HEALTH_MEMBERS.slice(
      0,
      4,
    )
      .map((name) => `'${name}'`)
      .join(', ')}.`,
  })
  healthStatus?: string;
}

export type BodyMode = 'create' | 'update';

/**
 * Checks a create or update body against the entity and returns only the properties it names.
 * Control information such as @odata.context is dropped; any other unknown name is a 400 that
 * names it. On update, `healthStatus: "unknownFutureValue"` is ignored as Graph does.
 */
export function parseDeviceScoreBody(
  body: unknown,
  surface: Surface,
  mode: BodyMode,
): DeviceScoreBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('The request body must be a single JSON object.');
  }

  const known = new Set(
    DEVICE_SCORES_MODEL.properties
      .filter((property) => property.surfaces.includes(surface))
      .map((property) => property.name),
  );
  const values: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(body)) {
    if (name === '@odata.type') {
      if (value !== DEVICE_SCORES_ODATA_TYPE) {
        throw badRequest(
          `Invalid value for '@odata.type': expected '${DEVICE_SCORES_ODATA_TYPE}'.`,
        );
      }
      continue;
    }
    if (name.startsWith('@odata.')) {
      continue;
    }
    if (!known.has(name)) {
      const hint =
        name === 'meanResourceSpikeTimeScore' ? ' It is available on the /beta surface only.' : '';
      throw badRequest(
        `The property '${name}' does not exist on type ` +
          `'microsoft.graph.userExperienceAnalyticsDeviceScores'.${hint}`,
      );
    }
    if (typeof value === 'object' && value !== null) {
      // Nested values are never valid here, and rejecting them first keeps deep nesting away
      // from class-transformer, whose recursion would overflow the stack.
      throw badRequest(
        `Invalid value for property '${name}': expected a string, a number or null, not an ` +
          `${Array.isArray(value) ? 'array' : 'object'}.`,
      );
    }
    values[name] = value;
  }

  const dto = plainToInstance(DeviceScoreBody, values);
  const errors = validateSync(dto, { forbidUnknownValues: true, stopAtFirstError: true });
  if (errors.length > 0) {
    const message = Object.values(errors[0].constraints ?? {})[0] ?? 'Invalid request body.';
    throw badRequest(message);
  }

  if (dto.healthStatus === 'unknownFutureValue') {
    if (mode === 'create') {
      throw badRequest(
        `Invalid value for property 'healthStatus': 'unknownFutureValue' is a placeholder ` +
          `and cannot be stored.`,
      );
    }
    delete dto.healthStatus;
  }
  return dto;
}
