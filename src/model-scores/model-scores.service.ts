import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager, ObjectLiteral, SelectQueryBuilder } from 'typeorm';

import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { TenantDatabase } from '../database/tenant-database.js';
import { GraphErrorCode, GraphException, notFound } from '../odata/http/graph-error.js';
import { CollectionResult, CountResult, EntityResult } from '../odata/http/odata-result.js';
import type { GraphRequestContext } from '../odata/http/request-context.js';
import type { ApplySource } from '../odata/query/apply-compiler.js';
import {
  APPLY_RESULT_ALIAS,
  type AggregateCountPlan,
  type AggregateQueryPlan,
  type ApplyQueryOptions,
  toAggregateEntity,
} from '../odata/query/apply-query.js';
import {
  type CountQueryPlan,
  type ListQueryPlan,
  planCollectionCount,
  planCollectionQuery,
  planEntityQuery,
} from '../odata/query/list-query.js';
import { modelScoreMapper, type ModelScoreRow } from './model-scores.mapper.js';
import {
  MODEL_SCORE_PROPERTIES,
  MODEL_SCORES_MODEL,
  MODEL_SCORES_SET_PATH,
} from './model-scores.model.js';

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const LIST_OPTIONS = new Set([
  'filter',
  'orderby',
  'select',
  'top',
  'skip',
  'count',
  'search',
  'skiptoken',
  'apply',
  'format',
]);
const COUNT_OPTIONS = new Set(['filter', 'search', 'apply']);
const ENTITY_OPTIONS = new Set(['select', 'format']);

/**
 * The view's columns as the mapper and keyset paging read them. The device count is cast to
 * double precision, so it arrives as a JSON number instead of bigint text.
 */
const SELECT_COLUMNS = MODEL_SCORES_MODEL.properties.map((property) =>
  property.name === 'modelDeviceCount'
    ? `CAST(ms.${property.column} AS double precision) AS "${property.column}"`
    : `ms.${property.column} AS "${property.column}"`,
);

/** `$apply` over model scores: an averaged score of -1 means that no device had the score. */
const APPLY_OPTIONS: ApplyQueryOptions = {
  unavailable: { value: -1, properties: MODEL_SCORE_PROPERTIES },
  includeUnavailableOption: 'includeUnavailableScores',
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

function entityUrl(context: GraphRequestContext, id: string): string {
  return `${context.baseUrl}/${MODEL_SCORES_SET_PATH}/${id}`;
}

function notFoundById(key: string): GraphException {
  return notFound(
    `No userExperienceAnalyticsModelScores entity has the id '${key.slice(0, 100)}'.`,
  );
}

/**
 * Reads model scores: one entity per manufacturer and model of the tenant's devices, from the
 * `model_scores` view over the summary that triggers keep current. Every query runs in the
 * tenant transaction, where row-level security applies, and also names the tenant.
 */
@Injectable()
export class ModelScoresService {
  constructor(
    private readonly database: TenantDatabase,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async list(tenantId: string, context: GraphRequestContext): Promise<CollectionResult> {
    const collection = planCollectionQuery(context.rawQuery, MODEL_SCORES_MODEL, {
      surface: context.surface,
      maxPageSize: this.config.maxPageSize,
      skiptokenSecret: this.config.skiptokenSecret,
      scope: `${tenantId}|${context.surface}|${MODEL_SCORES_SET_PATH}`,
      accepted: LIST_OPTIONS,
      alias: 'ms',
      apply: APPLY_OPTIONS,
    });
    if (collection.kind === 'aggregate') {
      return this.listAggregated(tenantId, context, collection.plan);
    }
    const plan = collection.plan;

    const { rows, count } = await this.database.run(tenantId, async (manager) => {
      const total = plan.count ? await this.countMatching(manager, tenantId, plan) : undefined;
      const page = plan.pageSize > 0 ? await this.readPage(manager, tenantId, plan) : [];
      return { rows: page, count: total };
    });

    const hasMore = rows.length > plan.pageSize;
    const page = hasMore ? rows.slice(0, plan.pageSize) : rows;
    return new CollectionResult(
      MODEL_SCORES_SET_PATH,
      page.map(modelScoreMapper(context.surface, plan.select)),
      {
        select: plan.select,
        count,
        nextLinkQuery: hasMore ? plan.nextLinkQuery(page[page.length - 1]) : undefined,
        collectionPath: MODEL_SCORES_SET_PATH,
        editLinkOf: (entity) =>
          typeof entity.id === 'string' ? entityUrl(context, entity.id) : undefined,
      },
    );
  }

  async count(tenantId: string, context: GraphRequestContext): Promise<CountResult> {
    const counting = planCollectionCount(context.rawQuery, MODEL_SCORES_MODEL, {
      surface: context.surface,
      accepted: COUNT_OPTIONS,
      alias: 'ms',
      apply: APPLY_OPTIONS,
    });
    const total = await this.database.run(tenantId, (manager) =>
      counting.kind === 'aggregate'
        ? this.countAggregated(manager, tenantId, counting.plan)
        : this.countMatching(manager, tenantId, counting.plan),
    );
    return new CountResult(total);
  }

  async get(tenantId: string, key: string, context: GraphRequestContext): Promise<EntityResult> {
    const { select } = planEntityQuery(context.rawQuery, MODEL_SCORES_MODEL, {
      surface: context.surface,
      accepted: ENTITY_OPTIONS,
    });
    if (!GUID.test(key)) {
      throw notFoundById(key);
    }
    const id = key.toLowerCase();

    const row = await this.database.run(tenantId, (manager) =>
      this.selectRows(manager, tenantId).andWhere('ms.id = :id', { id }).getRawOne<ModelScoreRow>(),
    );
    if (row === undefined || row === null) {
      throw notFoundById(id);
    }

    return new EntityResult(MODEL_SCORES_SET_PATH, modelScoreMapper(context.surface, select)(row), {
      select,
      editLink: entityUrl(context, id),
    });
  }

  /** Lists the result of an aggregating `$apply` over the model scores, paged by `$skip`. */
  private async listAggregated(
    tenantId: string,
    context: GraphRequestContext,
    plan: AggregateQueryPlan,
  ): Promise<CollectionResult> {
    const { rows, count } = await this.database.run(tenantId, async (manager) => {
      const total = plan.count ? await this.countAggregated(manager, tenantId, plan) : undefined;
      const page = plan.pageSize > 0 ? await this.readAggregatePage(manager, tenantId, plan) : [];
      return { rows: page, count: total };
    });

    const hasMore = rows.length > plan.pageSize;
    const page = hasMore ? rows.slice(0, plan.pageSize) : rows;
    return new CollectionResult(
      MODEL_SCORES_SET_PATH,
      page.map((row) => toAggregateEntity(row, plan, context.metadata)),
      {
        select: plan.contextSelect,
        count,
        nextLinkQuery: hasMore ? plan.nextLinkQuery() : undefined,
        collectionPath: MODEL_SCORES_SET_PATH,
      },
    );
  }

  private selectRows(manager: EntityManager, tenantId: string): SelectQueryBuilder<ObjectLiteral> {
    return manager
      .createQueryBuilder()
      .select(SELECT_COLUMNS)
      .from('model_scores', 'ms')
      .where('ms.tenant_id = :tenantId', { tenantId });
  }

  private applyConditions(
    query: SelectQueryBuilder<ObjectLiteral>,
    plan: Pick<CountQueryPlan, 'filter' | 'search'>,
  ): SelectQueryBuilder<ObjectLiteral> {
    for (const fragment of [plan.filter, plan.search]) {
      if (fragment !== undefined) {
        query.andWhere(fragment.sql, fragment.params);
      }
    }
    return query;
  }

  private async countMatching(
    manager: EntityManager,
    tenantId: string,
    plan: CountQueryPlan,
  ): Promise<number> {
    const query = manager
      .createQueryBuilder()
      .select('count(*)::int', 'count')
      .from('model_scores', 'ms')
      .where('ms.tenant_id = :tenantId', { tenantId });
    const row = await this.applyConditions(query, plan).getRawOne<{ count: number }>();
    return Number(row?.count ?? 0);
  }

  private async readPage(
    manager: EntityManager,
    tenantId: string,
    plan: ListQueryPlan,
  ): Promise<ModelScoreRow[]> {
    const query = this.applyConditions(this.selectRows(manager, tenantId), plan);
    if (plan.after !== undefined) {
      query.andWhere(plan.after.sql, plan.after.params);
    }
    for (const order of plan.orderBy) {
      query.addOrderBy(`ms.${order.column}`, order.direction, `NULLS ${order.nulls}`);
    }
    query.limit(plan.pageSize + 1);
    if (plan.skip > 0) {
      query.offset(plan.skip);
    }
    return query.getRawMany<ModelScoreRow>();
  }

  /** Returns the tenant's model scores, where an `$apply` starts. */
  private applySource(tenantId: string): ApplySource {
    return {
      from: 'model_scores ms',
      alias: 'ms',
      condition: { sql: 'ms.tenant_id = :tenantId', params: { tenantId } },
    };
  }

  private selectAggregated(
    manager: EntityManager,
    tenantId: string,
    plan: Pick<AggregateCountPlan, 'relation' | 'filter' | 'search'>,
  ): SelectQueryBuilder<ObjectLiteral> {
    const relation = plan.relation(this.applySource(tenantId));
    const query = manager
      .createQueryBuilder()
      .from(`(${relation.sql})`, APPLY_RESULT_ALIAS)
      .setParameters(relation.params);
    return this.applyConditions(query, plan);
  }

  private async countAggregated(
    manager: EntityManager,
    tenantId: string,
    plan: AggregateCountPlan,
  ): Promise<number> {
    const row = await this.selectAggregated(manager, tenantId, plan)
      .select('count(*)::int', 'count')
      .getRawOne<{ count: number }>();
    return Number(row?.count ?? 0);
  }

  private async readAggregatePage(
    manager: EntityManager,
    tenantId: string,
    plan: AggregateQueryPlan,
  ): Promise<Record<string, unknown>[]> {
    const query = this.selectAggregated(manager, tenantId, plan).select(
      plan.properties.map(
        (property) => `${APPLY_RESULT_ALIAS}.${property.column} AS "${property.column}"`,
      ),
    );
    for (const order of plan.orderBy) {
      query.addOrderBy(
        `${APPLY_RESULT_ALIAS}.${order.column}`,
        order.direction,
        `NULLS ${order.nulls}`,
      );
    }
    query.limit(plan.pageSize + 1);
    if (plan.skip > 0) {
      query.offset(plan.skip);
    }
    return query.getRawMany<Record<string, unknown>>();
  }
}
