import { Controller, Get, Header, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

import { Public } from '../../auth/permissions.js';
import { DEVICE_SCORES_MODEL } from '../../device-scores/device-scores.model.js';
import {
  MODEL_SCORES_EDM_TYPES,
  MODEL_SCORES_MODEL,
} from '../../model-scores/model-scores.model.js';
import { requestContextOf } from '../http/request-context.js';
import type { Surface } from '../query/entity-model.js';
import { buildCsdl, type ContainedSetModel } from './csdl.js';

const APPLY_TRANSFORMATIONS = ['aggregate', 'groupby', 'filter', 'identity'];
const INCLUDE_UNAVAILABLE_DESCRIPTION =
  'true keeps scores of -1 (unavailable) in the sum, min, max and average of $apply, ' +
  'which leaves them out by default.';

const SETS: ContainedSetModel[] = [
  {
    singleton: 'deviceManagement',
    singletonType: 'deviceManagement',
    model: DEVICE_SCORES_MODEL,
    apply: {
      transformations: APPLY_TRANSFORMATIONS,
      customOptions: [
        { name: 'includeUnavailableScores', description: INCLUDE_UNAVAILABLE_DESCRIPTION },
      ],
    },
  },
  {
    singleton: 'deviceManagement',
    singletonType: 'deviceManagement',
    model: MODEL_SCORES_MODEL,
    edmTypes: MODEL_SCORES_EDM_TYPES,
    readOnly: true,
    apply: {
      transformations: APPLY_TRANSFORMATIONS,
      customOptions: [
        { name: 'includeUnavailableScores', description: INCLUDE_UNAVAILABLE_DESCRIPTION },
      ],
    },
  },
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
