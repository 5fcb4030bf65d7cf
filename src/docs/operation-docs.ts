import { applyDecorators } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiOperation,
  ApiQuery,
  ApiResponse,
  ApiTags,
  type SchemaObject,
} from '@nestjs/swagger';

import { READ_PERMISSIONS, WRITE_PERMISSIONS } from '../auth/permissions.js';
import { SCHEMA, schemaRef } from './openapi-schemas.js';

/** Name of the security scheme that the document declares and the operations require. */
export const BEARER_SCHEME = 'bearer';

const READ_NOTE = `Accepted permissions (any one): ${READ_PERMISSIONS.join(', ')}.`;
const WRITE_NOTE = `Accepted permissions (any one): ${WRITE_PERMISSIONS.join(', ')}.`;
const SURFACE_NOTE =
  'Served under /beta, /v1.0 and without a prefix (the beta surface). On /v1.0 the property ' +
  'meanResourceSpikeTimeScore does not exist.';

function errorResponse(status: number, description: string): MethodDecorator & ClassDecorator {
  return ApiResponse({ status, description, schema: schemaRef(SCHEMA.error) });
}

function queryOption(name: string, description: string, schema: SchemaObject) {
  return ApiQuery({ name, required: false, description, schema });
}

const FILTER = queryOption(
  '$filter',
  'OData 4.01 expression over every property: eq ne gt ge lt le, and or not, in (...), ' +
    "add sub mul div mod, and string functions. Example: healthStatus eq 'needsAttention' " +
    'and endpointAnalyticsScore lt 50. A literal + must be sent as %2B.',
  { type: 'string', maxLength: 16 * 1024 },
);
const SEARCH = queryOption(
  '$search',
  'Terms and "quoted phrases" with AND, OR and NOT, matched case-insensitively in ' +
    'deviceName, model and manufacturer.',
  { type: 'string' },
);
const SELECT = queryOption('$select', 'A comma-separated list of properties, or *.', {
  type: 'string',
});
const LIST_OPTIONS = [
  FILTER,
  queryOption(
    '$orderby',
    'One or more properties, each followed by asc (default) or desc. The id always breaks ties.',
    { type: 'string' },
  ),
  SELECT,
  queryOption('$top', 'Page size, capped by the service maximum page size.', {
    type: 'integer',
    minimum: 0,
    maximum: 2147483647,
  }),
  queryOption('$skip', 'Items to skip before the first page.', {
    type: 'integer',
    minimum: 0,
    maximum: 2147483647,
  }),
  queryOption('$count', 'true adds @odata.count, the number of matching items.', {
    type: 'boolean',
  }),
  SEARCH,
  queryOption(
    '$skiptoken',
    'Opaque paging token. Take it from @odata.nextLink and do not build it yourself.',
    { type: 'string' },
  ),
];

/** Tag, bearer scheme and the errors every device scores operation can return. */
export function ApiDeviceScoresController(): ClassDecorator {
  return applyDecorators(
    ApiTags('DeviceScores'),
    ApiBearerAuth(BEARER_SCHEME),
    errorResponse(400, 'Invalid body, property, value or query option.'),
    errorResponse(401, 'Missing or invalid access token.'),
    errorResponse(403, 'The token has none of the accepted permissions.'),
    errorResponse(429, 'Over a rate limit. Retry after the seconds in Retry-After.'),
    errorResponse(503, 'The database is unavailable. Retry after the seconds in Retry-After.'),
  );
}

export function ApiListDeviceScores(): MethodDecorator {
  return applyDecorators(
    ApiOperation({
      summary: 'List device scores',
      description:
        `Returns one page of the caller's tenant. Follow @odata.nextLink for more. ` +
        `${SURFACE_NOTE} ${READ_NOTE}`,
    }),
    ...LIST_OPTIONS,
    ApiResponse({
      status: 200,
      description: 'One page of the collection.',
      schema: schemaRef(SCHEMA.deviceScoreCollection),
    }),
  );
}

export function ApiCountDeviceScores(): MethodDecorator {
  return applyDecorators(
    ApiOperation({
      summary: 'Count device scores',
      description: `Returns the number of matching items as text/plain. ${READ_NOTE}`,
    }),
    FILTER,
    SEARCH,
    ApiResponse({
      status: 200,
      description: 'The count as a bare number.',
      content: { 'text/plain': { schema: { type: 'integer', minimum: 0 } } },
    }),
  );
}

export function ApiGetDeviceScore(): MethodDecorator {
  return applyDecorators(
    ApiOperation({
      summary: 'Get device scores',
      description:
        `Also addressable as userExperienceAnalyticsDeviceScores('{id}'). With If-None-Match ` +
        `equal to the current ETag the answer is 304. ${READ_NOTE}`,
    }),
    SELECT,
    ApiResponse({ status: 200, description: 'The entity.', schema: schemaRef(SCHEMA.deviceScore) }),
    ApiResponse({ status: 304, description: 'Unchanged since the ETag in If-None-Match.' }),
    errorResponse(404, 'No entity with this id in the caller tenant.'),
  );
}

export function ApiCreateDeviceScore(): MethodDecorator {
  return applyDecorators(
    ApiOperation({
      summary: 'Create device scores',
      description: `Returns the entity with a Location header. ${WRITE_NOTE}`,
    }),
    ApiBody({ schema: schemaRef(SCHEMA.deviceScoreInput) }),
    ApiResponse({ status: 201, description: 'Created.', schema: schemaRef(SCHEMA.deviceScore) }),
    errorResponse(409, 'An entity with the id in the body exists.'),
    errorResponse(413, 'The body is larger than the limit.'),
    errorResponse(415, 'The body is not application/json.'),
  );
}

export function ApiUpdateDeviceScore(): MethodDecorator {
  return applyDecorators(
    ApiOperation({
      summary: 'Update device scores',
      description:
        'Changes only the properties in the body. Answers 204, or 200 with the entity when the ' +
        'request has Prefer: return=representation. With If-Match, a changed entity is 412. ' +
        WRITE_NOTE,
    }),
    ApiBody({ schema: schemaRef(SCHEMA.deviceScoreInput) }),
    ApiResponse({ status: 204, description: 'Updated.' }),
    ApiResponse({
      status: 200,
      description: 'Updated, with Prefer: return=representation.',
      schema: schemaRef(SCHEMA.deviceScore),
    }),
    errorResponse(404, 'No entity with this id in the caller tenant.'),
    errorResponse(412, 'If-Match does not match the current ETag.'),
    errorResponse(413, 'The body is larger than the limit.'),
    errorResponse(415, 'The body is not application/json.'),
  );
}

export function ApiDeleteDeviceScore(): MethodDecorator {
  return applyDecorators(
    ApiOperation({
      summary: 'Delete device scores',
      description: `With If-Match, a changed entity is 412. ${WRITE_NOTE}`,
    }),
    ApiResponse({ status: 204, description: 'Deleted.' }),
    errorResponse(404, 'No entity with this id in the caller tenant.'),
    errorResponse(412, 'If-Match does not match the current ETag.'),
  );
}

export function ApiBatch(): MethodDecorator {
  return applyDecorators(
    ApiBearerAuth(BEARER_SCHEME),
    ApiOperation({
      summary: 'Send several requests in one',
      description:
        'JSON batching as in Microsoft Graph: up to 20 requests, run in dependsOn order, each ' +
        'authorized and rate-limited on its own with the token of the batch.',
    }),
    ApiBody({ schema: schemaRef(SCHEMA.batchRequest) }),
    ApiResponse({
      status: 200,
      description: 'One response per request, in the order of the requests in the body.',
      schema: schemaRef(SCHEMA.batchResponse),
    }),
    errorResponse(400, 'The batch body is malformed.'),
    errorResponse(401, 'Missing or invalid access token.'),
    errorResponse(403, 'The token has no permission of this API.'),
    errorResponse(503, 'Too many batches are waiting. Retry after the seconds in Retry-After.'),
  );
}
