import { Body, Controller, Delete, Get, Param, Patch, Post, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

import { principalOf } from '../auth/principal-of.js';
import { READ_PERMISSIONS, RequirePermissions, WRITE_PERMISSIONS } from '../auth/permissions.js';
import {
  ApiCountDeviceScores,
  ApiCreateDeviceScore,
  ApiDeleteDeviceScore,
  ApiDeviceScoresController,
  ApiGetDeviceScore,
  ApiListDeviceScores,
  ApiUpdateDeviceScore,
} from '../docs/operation-docs.js';
import type {
  CollectionResult,
  CountResult,
  EntityResult,
  NoContentResult,
  NotModifiedResult,
} from '../odata/http/odata-result.js';
import { firstHeaderValue } from '../odata/http/etag.js';
import { requestContextOf } from '../odata/http/request-context.js';
import { DeviceScoresService } from './device-scores.service.js';

const COLLECTION = 'deviceManagement/userExperienceAnalyticsDeviceScores';

/** The collection path under each surface: Graph beta, Graph v1.0, and the bare documented path. */
export const DEVICE_SCORES_PATHS = [`beta/${COLLECTION}`, `v1.0/${COLLECTION}`, COLLECTION];

/** Paths and methods for 405 responses on paths that exist under another method. */
export const DEVICE_SCORES_ROUTES = [
  {
    pattern: /^(\/beta|\/v1\.0)?\/deviceManagement\/userExperienceAnalyticsDeviceScores\/?$/,
    methods: ['GET', 'HEAD', 'POST'],
  },
  {
    pattern: /^(\/beta|\/v1\.0)?\/deviceManagement\/userExperienceAnalyticsDeviceScores\/\$count$/,
    methods: ['GET', 'HEAD'],
  },
  {
    pattern: /^(\/beta|\/v1\.0)?\/deviceManagement\/userExperienceAnalyticsDeviceScores\/[^/]+$/,
    methods: ['GET', 'HEAD', 'PATCH', 'DELETE'],
  },
];

function prefersRepresentation(request: FastifyRequest): boolean {
  const prefer = request.headers.prefer;
  const values = Array.isArray(prefer) ? prefer.join(',') : (prefer ?? '');
  return /(^|[,;\s])return\s*=\s*"?representation"?/i.test(values);
}

@Controller(DEVICE_SCORES_PATHS)
@ApiDeviceScoresController()
export class DeviceScoresController {
  constructor(private readonly deviceScores: DeviceScoresService) {}

  @Get()
  @RequirePermissions(...READ_PERMISSIONS)
  @ApiListDeviceScores()
  list(@Req() request: FastifyRequest): Promise<CollectionResult> {
    return this.deviceScores.list(principalOf(request).tenantId, requestContextOf(request));
  }

  @Get('$count')
  @RequirePermissions(...READ_PERMISSIONS)
  @ApiCountDeviceScores()
  count(@Req() request: FastifyRequest): Promise<CountResult> {
    return this.deviceScores.count(principalOf(request).tenantId, requestContextOf(request));
  }

  @Get(':id')
  @RequirePermissions(...READ_PERMISSIONS)
  @ApiGetDeviceScore()
  get(
    @Req() request: FastifyRequest,
    @Param('id') id: string,
  ): Promise<EntityResult | NotModifiedResult> {
    return this.deviceScores.get(principalOf(request).tenantId, id, requestContextOf(request), {
      ifNoneMatch: firstHeaderValue(request.headers['if-none-match']),
    });
  }

  @Post()
  @RequirePermissions(...WRITE_PERMISSIONS)
  @ApiCreateDeviceScore()
  create(@Req() request: FastifyRequest, @Body() body: unknown): Promise<EntityResult> {
    return this.deviceScores.create(principalOf(request).tenantId, body, requestContextOf(request));
  }

  @Patch(':id')
  @RequirePermissions(...WRITE_PERMISSIONS)
  @ApiUpdateDeviceScore()
  update(
    @Req() request: FastifyRequest,
    @Param('id') id: string,
    @Body() body: unknown,
  ): Promise<EntityResult | NoContentResult> {
    return this.deviceScores.update(
      principalOf(request).tenantId,
      id,
      body,
      requestContextOf(request),
      {
        returnRepresentation: prefersRepresentation(request),
        ifMatch: firstHeaderValue(request.headers['if-match']),
      },
    );
  }

  @Delete(':id')
  @RequirePermissions(...WRITE_PERMISSIONS)
  @ApiDeleteDeviceScore()
  remove(@Req() request: FastifyRequest, @Param('id') id: string): Promise<NoContentResult> {
    return this.deviceScores.remove(principalOf(request).tenantId, id, requestContextOf(request), {
      ifMatch: firstHeaderValue(request.headers['if-match']),
    });
  }
}
