import { Body, Controller, Header, HttpCode, Inject, Post, Req, UseGuards } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

import { Public } from '../../auth/permissions.js';
import { ApiBatch } from '../../docs/operation-docs.js';
import { BatchAccessGuard } from './batch-access.guard.js';
import { serializeBatchResponse } from './batch-response.js';
import { BatchService } from './batch.service.js';

const BATCH_CONTENT_TYPE =
  'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;' +
  'charset=utf-8';

/** JSON batching on each surface: up to 20 requests in one POST, as Microsoft Graph accepts them. */
@Controller()
export class BatchController {
  constructor(@Inject(BatchService) private readonly batch: BatchService) {}

  /**
   * `@Public()` only exempts the batch itself from the global guard, which would count it as one
   * more write. BatchAccessGuard still requires a valid token with a permission of this API, and
   * each inner request is authorized and rate-limited by the global guard on its own.
   */
  @Post(['beta/$batch', 'v1.0/$batch', '$batch'])
  @Public()
  @UseGuards(BatchAccessGuard)
  @HttpCode(200)
  @Header('Content-Type', BATCH_CONTENT_TYPE)
  @ApiBatch()
  async execute(@Req() request: FastifyRequest, @Body() body: unknown): Promise<string> {
    return serializeBatchResponse(await this.batch.execute(body, request));
  }
}
