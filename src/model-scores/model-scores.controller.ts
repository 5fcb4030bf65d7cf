import { Controller, Delete, Get, Param, Patch, Post, Put, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';

import { principalOf } from '../auth/principal-of.js';
import { READ_PERMISSIONS, RequirePermissions, WRITE_PERMISSIONS } from '../auth/permissions.js';
import { BEARER_SCHEME } from '../docs/operation-docs.js';
import type { CollectionResult, CountResult, EntityResult } from '../odata/http/odata-result.js';
import { requestContextOf } from '../odata/http/request-context.js';
import { MODEL_SCORES_SET_PATH } from './model-scores.model.js';
import { ModelScoresService, readOnly } from './model-scores.service.js';

/** The collection path under each surface: Graph beta, Graph v1.0, and the bare path (beta). */
export const MODEL_SCORES_PATHS = [
  `beta/${MODEL_SCORES_SET_PATH}`,
  `v1.0/${MODEL_SCORES_SET_PATH}`,
  MODEL_SCORES_SET_PATH,
];

const READ_NOTE = `Accepted permissions (any one): ${READ_PERMISSIONS.join(', ')}.`;

/**
 * Model scores: read with every collection option, written never. The write routes exist only
 * to return 405 with the reason, after the token and permission checks of any write.
 */
@Controller(MODEL_SCORES_PATHS)
@ApiTags('ModelScores')
@ApiBearerAuth(BEARER_SCHEME)
export class ModelScoresController {
  constructor(private readonly modelScores: ModelScoresService) {}

  @Get()
  @RequirePermissions(...READ_PERMISSIONS)
  @ApiOperation({
    summary: 'List model scores',
    description:
      "One entity per manufacturer and model of the caller tenant's devices, with the averages " +
      'of the available device scores (-1 when no device has one). Takes $filter, $orderby, ' +
      '$select, $top, $skip, $count, $search and $apply. ' +
      READ_NOTE,
  })
  @ApiQuery({ name: '$apply', required: false, schema: { type: 'string' } })
  @ApiResponse({ status: 200, description: 'One page of the collection.' })
  list(@Req() request: FastifyRequest): Promise<CollectionResult> {
    return this.modelScores.list(principalOf(request).tenantId, requestContextOf(request));
  }

  @Get('$count')
  @RequirePermissions(...READ_PERMISSIONS)
  @ApiOperation({ summary: 'Count model scores', description: READ_NOTE })
  @ApiResponse({ status: 200, description: 'The count as a bare number (text/plain).' })
  count(@Req() request: FastifyRequest): Promise<CountResult> {
    return this.modelScores.count(principalOf(request).tenantId, requestContextOf(request));
  }

  @Get(':id')
  @RequirePermissions(...READ_PERMISSIONS)
  @ApiOperation({ summary: 'Get model scores', description: READ_NOTE })
  @ApiResponse({ status: 200, description: 'The entity.' })
  get(@Req() request: FastifyRequest, @Param('id') id: string): Promise<EntityResult> {
    return this.modelScores.get(principalOf(request).tenantId, id, requestContextOf(request));
  }

  @Post()
  @RequirePermissions(...WRITE_PERMISSIONS)
  @ApiOperation({ summary: 'Create model scores (not allowed)', description: 'Always 405.' })
  @ApiResponse({ status: 405, description: 'Model scores are computed, not written.' })
  create(): never {
    throw readOnly();
  }

  @Patch(':id')
  @RequirePermissions(...WRITE_PERMISSIONS)
  @ApiOperation({ summary: 'Update model scores (not allowed)', description: 'Always 405.' })
  @ApiResponse({ status: 405, description: 'Model scores are computed, not written.' })
  update(): never {
    throw readOnly();
  }

  @Put(':id')
  @RequirePermissions(...WRITE_PERMISSIONS)
  @ApiOperation({ summary: 'Replace model scores (not allowed)', description: 'Always 405.' })
  @ApiResponse({ status: 405, description: 'Model scores are computed, not written.' })
  replace(): never {
    throw readOnly();
  }

  @Delete(':id')
  @RequirePermissions(...WRITE_PERMISSIONS)
  @ApiOperation({ summary: 'Delete model scores (not allowed)', description: 'Always 405.' })
  @ApiResponse({ status: 405, description: 'Model scores are computed, not written.' })
  remove(): never {
    throw readOnly();
  }
}
