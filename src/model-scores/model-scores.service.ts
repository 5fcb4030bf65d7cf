import { Inject, Injectable } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { TenantDatabase } from '../database/tenant-database.js';
import { GraphErrorCode, GraphException } from '../odata/http/graph-error.js';
import { EntityResult } from '../odata/http/odata-result.js';
import type { GraphRequestContext } from '../odata/http/request-context.js';
import {
  ENTITY_OPTIONS,
  EntitySetReader,
  type EntitySetSource,
} from '../odata/read/entity-set-reader.js';
import { modelScoreMapper, type ModelScoreRow } from './model-scores.mapper.js';
import {
  MODEL_SCORE_PROPERTIES,
  MODEL_SCORES_MODEL,
  MODEL_SCORES_SET_PATH,
} from './model-scores.model.js';

/** The model_scores view and its mapper, for list, `/$count` and get by id. */
const MODEL_SCORES_SOURCE: EntitySetSource = {
  model: MODEL_SCORES_MODEL,
  setPath: MODEL_SCORES_SET_PATH,
  table: 'model_scores',
  alias: 'ms',
  /**
   * The view's columns as the mapper and keyset paging read them. The device count is cast to
   * double precision, so it arrives as a JSON number instead of bigint text.
   */
  selectList: MODEL_SCORES_MODEL.properties
    .map((property) =>
      property.name === 'modelDeviceCount'
        ? `CAST(ms.${property.column} AS double precision) AS "${property.column}"`
        : `ms.${property.column} AS "${property.column}"`,
    )
    .join(', '),
  /** `$apply` over model scores: an averaged score of -1 means that no device had the score. */
  apply: {
    unavailable: { value: -1, properties: MODEL_SCORE_PROPERTIES },
    includeUnavailableOption: 'includeUnavailableScores',
  },
  mapper: modelScoreMapper,
};

/** The message of every write, which the resource does not support. */
export const READ_ONLY_MESSAGE =
  'userExperienceAnalyticsModelScores is read-only here: the service computes each model from ' +
  'the device scores of the tenant. Create, update or delete userExperienceAnalyticsDeviceScores ' +
  'instead.';

/** Returns the 405 for a write to the read-only collection or one of its entities. */
export function readOnly(): GraphException {
  return new GraphException(GraphErrorCode.MethodNotAllowed, READ_ONLY_MESSAGE, {
    Allow: 'GET, HEAD',
  });
}

/**
 * Reads model scores: one entity per manufacturer and model of the tenant's devices, from the
 * `model_scores` view over the summary that triggers keep current. Every query runs in the
 * tenant transaction, where row-level security applies, and also names the tenant.
 */
@Injectable()
export class ModelScoresService extends EntitySetReader {
  constructor(database: TenantDatabase, @Inject(APP_CONFIG) config: AppConfig) {
    super(database, config, MODEL_SCORES_SOURCE);
  }

  async get(tenantId: string, key: string, context: GraphRequestContext): Promise<EntityResult> {
    const { select } = this.planEntity(context, ENTITY_OPTIONS);
    const id = this.parseKey(key);

    const [rows] = await this.database.read(tenantId, [
      { text: this.selectByIdSql, values: [tenantId, id] },
    ]);
    const row = rows[0] as ModelScoreRow | undefined;
    if (row === undefined) {
      throw this.notFoundById(id);
    }

    return new EntityResult(MODEL_SCORES_SET_PATH, modelScoreMapper(context.surface, select)(row), {
      select,
      editLink: this.entityUrl(context, id),
    });
  }
}
