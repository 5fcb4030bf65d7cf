import type { ReferenceObject, SchemaObject } from '@nestjs/swagger';

import { DEVICE_SCORES_ODATA_TYPE, MAX_TEXT_LENGTH } from '../device-scores/device-score-body.js';
import { DEVICE_SCORES_MODEL, HEALTH_STATE_ENUM } from '../device-scores/device-scores.model.js';
import { BATCH_METHODS, MAX_BATCH_REQUESTS } from '../odata/batch/batch-request.js';
import { GraphErrorCode } from '../odata/http/graph-error.js';
import type { PropertyModel } from '../odata/query/entity-model.js';

/** Component names, as Microsoft Graph's own OpenAPI description names these types. */
export const SCHEMA = {
  deviceScore: 'microsoft.graph.userExperienceAnalyticsDeviceScores',
  deviceScoreInput: 'microsoft.graph.userExperienceAnalyticsDeviceScoresInput',
  deviceScoreCollection: 'microsoft.graph.userExperienceAnalyticsDeviceScoresCollectionResponse',
  healthState: 'microsoft.graph.userExperienceAnalyticsHealthState',
  error: 'microsoft.graph.ODataErrors.ODataError',
  batchRequest: 'BatchRequest',
  batchResponse: 'BatchResponse',
} as const;

/** Returns a `$ref` to one of the components above. */
export function schemaRef(name: (typeof SCHEMA)[keyof typeof SCHEMA]): { $ref: string } {
  return { $ref: `#/components/schemas/${name}` };
}

const SCORE_DESCRIPTION = '-1 when the score is unavailable, otherwise from 0 to 100.';

/** Describes one entity property from the model the service runs on. */
function propertySchema(property: PropertyModel): SchemaObject | ReferenceObject {
  const betaOnly = property.surfaces.includes('v1.0')
    ? ''
    : ' Available on /beta only: absent from /v1.0 responses and rejected in /v1.0 bodies.';
  switch (property.kind) {
    case 'guid':
      return { type: 'string', format: 'uuid', description: 'The entity key, a GUID.' };
    case 'string':
      return { type: 'string', nullable: property.nullable, maxLength: MAX_TEXT_LENGTH };
    case 'double':
      return {
        type: 'number',
        format: 'double',
        minimum: -1,
        maximum: 100,
        description: `${SCORE_DESCRIPTION}${betaOnly}`,
      };
    case 'enum':
      return schemaRef(SCHEMA.healthState);
  }
}

function entityProperties(): Record<string, SchemaObject | ReferenceObject> {
  const properties: Record<string, SchemaObject | ReferenceObject> = {};
  for (const property of DEVICE_SCORES_MODEL.properties) {
    properties[property.name] = propertySchema(property);
  }

  return properties;
}

const ERROR_CODES = Object.values(GraphErrorCode);

/** Builds the component schemas that the controllers' decorators refer to. */
export function buildComponentSchemas(): Record<string, SchemaObject> {
  const properties = entityProperties();

  return {
    [SCHEMA.healthState]: {
      type: 'string',
      enum: HEALTH_STATE_ENUM.members.map((member) => member.name),
      description:
        "'unknownFutureValue' is the evolvable-enum sentinel: rejected on create and ignored " +
        'on update.',
    },
    [SCHEMA.deviceScore]: {
      type: 'object',
      description: 'Endpoint analytics scores of one device.',
      required: DEVICE_SCORES_MODEL.properties
        .filter((property) => property.surfaces.includes('v1.0'))
        .map((property) => property.name),
      properties: {
        '@odata.type': { type: 'string', enum: [DEVICE_SCORES_ODATA_TYPE] },
        '@odata.etag': { type: 'string', description: 'The entity tag, also sent as ETag.' },
        ...properties,
      },
    },
    [SCHEMA.deviceScoreInput]: {
      type: 'object',
      description:
        'The body of a create or an update. Omitted properties keep their value on update and ' +
        'take their default on create: null for text, -1 for scores, unknown for healthStatus. ' +
        'Any property not listed here is rejected with 400, except @odata annotations.',
      additionalProperties: false,
      properties: {
        '@odata.type': { type: 'string', enum: [DEVICE_SCORES_ODATA_TYPE] },
        ...properties,
        id: {
          type: 'string',
          format: 'uuid',
          description:
            'Optional on create, where an existing id is a 409 Conflict. On update it must ' +
            'equal the id in the URL.',
        },
      },
    },
    [SCHEMA.deviceScoreCollection]: {
      type: 'object',
      required: ['value'],
      properties: {
        '@odata.context': { type: 'string', format: 'uri' },
        '@odata.count': {
          type: 'integer',
          description: 'The number of matching items before paging, with $count=true.',
        },
        value: { type: 'array', items: schemaRef(SCHEMA.deviceScore) },
        '@odata.nextLink': {
          type: 'string',
          format: 'uri',
          description: 'The absolute URL of the next page, present while items remain.',
        },
      },
    },
    [SCHEMA.error]: {
      type: 'object',
      required: ['error'],
      description: 'The Microsoft Graph error body, sent with Content-Type application/json.',
      properties: {
        error: {
          type: 'object',
          required: ['code', 'message', 'innerError'],
          properties: {
            code: { type: 'string', enum: ERROR_CODES },
            message: { type: 'string', description: 'What failed and how to fix the request.' },
            innerError: {
              type: 'object',
              properties: {
                date: {
                  type: 'string',
                  description: 'UTC time of the error, such as 2026-01-31T12:00:00.',
                },
                'request-id': { type: 'string', format: 'uuid' },
                'client-request-id': { type: 'string' },
              },
            },
          },
        },
      },
    },
    [SCHEMA.batchRequest]: {
      type: 'object',
      required: ['requests'],
      properties: {
        requests: {
          type: 'array',
          maxItems: MAX_BATCH_REQUESTS,
          items: {
            type: 'object',
            required: ['id', 'method', 'url'],
            properties: {
              id: { type: 'string' },
              method: { type: 'string', enum: [...BATCH_METHODS] },
              url: {
                type: 'string',
                description: 'Path relative to the surface, such as /deviceManagement/...',
              },
              headers: { type: 'object', additionalProperties: { type: 'string' } },
              body: { description: 'A JSON value; requires a Content-Type header.' },
              dependsOn: { type: 'array', items: { type: 'string' } },
            },
          },
        },
      },
    },
    [SCHEMA.batchResponse]: {
      type: 'object',
      properties: {
        responses: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              status: { type: 'integer' },
              headers: { type: 'object', additionalProperties: { type: 'string' } },
              body: { description: 'The inner response body, if it has one.' },
            },
          },
        },
      },
    },
  };
}
