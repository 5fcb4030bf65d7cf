import { Controller, Get, Header, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

import { Public } from '../../auth/permissions.js';
import { DEVICE_SCORES_MODEL } from '../../device-scores/device-scores.model.js';
import { requestContextOf } from '../http/request-context.js';
import type { Surface } from '../query/entity-model.js';
import { buildCsdl, type ContainedSetModel } from './csdl.js';

const SETS: ContainedSetModel[] = [
  { singleton: 'deviceManagement', singletonType: 'deviceManagement', model: DEVICE_SCORES_MODEL },
];

const DOCUMENTS: Record<Surface, string> = {
  beta: buildCsdl(SETS, 'beta'),
  'v1.0': buildCsdl(SETS, 'v1.0'),
};

/** The CSDL document of each surface. Public, as Graph serves $metadata without a token. */
@Controller()
export class MetadataController {
  @Get(['beta/$metadata', 'v1.0/$metadata', '$metadata'])
  @Public()
  @Header('Content-Type', 'application/xml;charset=utf-8')
  metadata(@Req() request: FastifyRequest): string {
    return DOCUMENTS[requestContextOf(request).surface];
  }
}
