import { randomUUID } from 'node:crypto';

import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager, SelectQueryBuilder } from 'typeorm';

import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { TenantDatabase } from '../database/tenant-database.js';
import { etagMatches } from '../odata/http/etag.js';
import { GraphErrorCode, GraphException, notFound } from '../odata/http/graph-error.js';
import {
  CollectionResult,
  CountResult,
  EntityResult,
  NoContentResult,
  NotModifiedResult,
} from '../odata/http/odata-result.js';
import type { GraphRequestContext } from '../odata/http/request-context.js';
import {
  type ListQueryPlan,
  planCountQuery,
  planEntityQuery,
  planListQuery,
} from '../odata/query/list-query.js';
import { type DeviceScoreBody, parseDeviceScoreBody } from './device-score-body.js';
import { DeviceScoreEntity } from './device-score.entity.js';
import {
  DEVICE_SCORE_COLUMNS,
  type DeviceScoreRow,
  createdMicrosExpression,
  etagOf,
  toDeviceScoreResource,
} from './device-score.mapper.js';
import { DEVICE_SCORES_MODEL, HEALTH_STATE_ENUM } from './device-scores.model.js';

export const DEVICE_SCORES_SET_PATH = 'deviceManagement/userExperienceAnalyticsDeviceScores';

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
  'format',
]);
const COUNT_OPTIONS = new Set(['filter', 'search']);
const ENTITY_OPTIONS = new Set(['select', 'format']);
const NO_OPTIONS = new Set<string>();
const SELECT_COLUMNS = [
  ...DEVICE_SCORE_COLUMNS.map((column) => `ds.${column} AS "${column}"`),
  createdMicrosExpression('ds'),
];
const RETURNING_COLUMNS = [
  ...DEVICE_SCORE_COLUMNS.map((column) => `"${column}"`),
  createdMicrosExpression(),
].join(', ');
const HEALTH_VALUES = new Map(
  HEALTH_STATE_ENUM.members.map((member) => [member.name, member.value]),
);

/** Columns a create or update body may write, keyed by wire property name. */
const WRITABLE: Record<string, keyof DeviceScoreEntity> = {
  deviceName: 'deviceName',
  model: 'model',
  manufacturer: 'manufacturer',
  endpointAnalyticsScore: 'endpointAnalyticsScore',
  startupPerformanceScore: 'startupPerformanceScore',
  appReliabilityScore: 'appReliabilityScore',
  workFromAnywhereScore: 'workFromAnywhereScore',
  batteryHealthScore: 'batteryHealthScore',
  meanResourceSpikeTimeScore: 'meanResourceSpikeTimeScore',
};

/** Request headers that make an operation conditional on the entity's current tag. */
export interface ConditionalHeaders {
  ifMatch?: string;
  ifNoneMatch?: string;
}

function assertPrecondition(ifMatch: string | undefined, row: DeviceScoreRow): void {
  if (ifMatch !== undefined && !etagMatches(ifMatch, etagOf(row))) {
    throw new GraphException(
      GraphErrorCode.PreconditionFailed,
      'The entity has changed: its ETag does not match If-Match. Read it again and retry.',
    );
  }
}

/** Returns the lower-case GUID of a key from the URL; anything else names no entity, so 404. */
export function parseKey(key: string): string {
  if (!GUID.test(key)) {
    throw notFound(
      `No userExperienceAnalyticsDeviceScores entity has the id '${key.slice(0, 100)}'.`,
    );
  }
  return key.toLowerCase();
}

function entityUrl(context: GraphRequestContext, id: string): string {
  return `${context.baseUrl}/${DEVICE_SCORES_SET_PATH}/${id}`;
}

function notFoundById(id: string): GraphException {
  return notFound(`No userExperienceAnalyticsDeviceScores entity has the id '${id}'.`);
}

/** Turns the checked body into column values; health status becomes its stored number. */
function toColumnValues(body: DeviceScoreBody): Partial<DeviceScoreEntity> {
  const values: Partial<DeviceScoreEntity> = {};
  for (const [property, field] of Object.entries(WRITABLE)) {
    const value = body[property as keyof DeviceScoreBody];
    if (value !== undefined) {
      (values as Record<string, unknown>)[field] = value;
    }
  }
  if (body.healthStatus !== undefined) {
    values.healthStatus = HEALTH_VALUES.get(body.healthStatus);
  }
  return values;
}

/**
 * The five operations on device scores. Every database call runs in the caller's tenant
 * transaction and also names the tenant in its WHERE clause.
 */
@Injectable()
export class DeviceScoresService {
  constructor(
    private readonly database: TenantDatabase,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async list(tenantId: string, context: GraphRequestContext): Promise<CollectionResult> {
    const plan = planListQuery(context.rawQuery, DEVICE_SCORES_MODEL, {
      surface: context.surface,
      maxPageSize: this.config.maxPageSize,
      skiptokenSecret: this.config.skiptokenSecret,
      scope: `${tenantId}|${context.surface}|${DEVICE_SCORES_SET_PATH}`,
      accepted: LIST_OPTIONS,
      alias: 'ds',
    });

    const { rows, count } = await this.database.run(tenantId, async (manager) => {
      const total = plan.count ? await this.countMatching(manager, tenantId, plan) : undefined;
      const page = plan.pageSize > 0 ? await this.readPage(manager, tenantId, plan) : [];
      return { rows: page, count: total };
    });

    const hasMore = rows.length > plan.pageSize;
    const page = hasMore ? rows.slice(0, plan.pageSize) : rows;
    return new CollectionResult(
      DEVICE_SCORES_SET_PATH,
      page.map((row) => toDeviceScoreResource(row, context.surface, plan.select)),
      {
        select: plan.select,
        count,
        nextLinkQuery: hasMore ? plan.nextLinkQuery(page[page.length - 1]) : undefined,
        collectionPath: DEVICE_SCORES_SET_PATH,
        editLinkOf: (entity) =>
          typeof entity.id === 'string' ? entityUrl(context, entity.id) : undefined,
      },
    );
  }

  async count(tenantId: string, context: GraphRequestContext): Promise<CountResult> {
    const plan = planCountQuery(context.rawQuery, DEVICE_SCORES_MODEL, {
      surface: context.surface,
      accepted: COUNT_OPTIONS,
      alias: 'ds',
    });
    const total = await this.database.run(tenantId, (manager) =>
      this.countMatching(manager, tenantId, plan),
    );
    return new CountResult(total);
  }

  async get(
    tenantId: string,
    key: string,
    context: GraphRequestContext,
    conditions: ConditionalHeaders = {},
  ): Promise<EntityResult | NotModifiedResult> {
    const id = parseKey(key);
    const { select } = planEntityQuery(context.rawQuery, DEVICE_SCORES_MODEL, {
      surface: context.surface,
      accepted: ENTITY_OPTIONS,
    });

    const row = await this.database.run(tenantId, (manager) =>
      this.findRow(manager, tenantId, id, false),
    );
    if (row === undefined) {
      throw notFoundById(id);
    }

    const etag = etagOf(row);
    if (conditions.ifNoneMatch !== undefined && etagMatches(conditions.ifNoneMatch, etag)) {
      return new NotModifiedResult({ ETag: etag });
    }
    return new EntityResult(
      DEVICE_SCORES_SET_PATH,
      toDeviceScoreResource(row, context.surface, select),
      { select, editLink: entityUrl(context, id), headers: { ETag: etag } },
    );
  }

  async create(
    tenantId: string,
    body: unknown,
    context: GraphRequestContext,
  ): Promise<EntityResult> {
    planEntityQuery(context.rawQuery, DEVICE_SCORES_MODEL, {
      surface: context.surface,
      accepted: NO_OPTIONS,
    });
    const checked = parseDeviceScoreBody(body, context.surface, 'create');
    const id = checked.id?.toLowerCase() ?? randomUUID();
    const values = { tenantId, id, ...toColumnValues(checked) };

    const rows = await this.database.run(tenantId, async (manager) => {
      const result = await manager
        .createQueryBuilder()
        .insert()
        .into(DeviceScoreEntity)
        .values(values)
        .orIgnore()
        .returning(RETURNING_COLUMNS)
        .execute();
      return result.raw as DeviceScoreRow[];
    });
    if (rows.length === 0) {
      throw new GraphException(
        GraphErrorCode.Conflict,
        `A userExperienceAnalyticsDeviceScores entity with the id '${id}' already exists.`,
      );
    }

    return new EntityResult(
      DEVICE_SCORES_SET_PATH,
      toDeviceScoreResource(rows[0], context.surface),
      {
        status: 201,
        location: entityUrl(context, id),
        editLink: entityUrl(context, id),
        headers: { ETag: etagOf(rows[0]) },
      },
    );
  }

  async update(
    tenantId: string,
    key: string,
    body: unknown,
    context: GraphRequestContext,
    options: { returnRepresentation: boolean } & ConditionalHeaders,
  ): Promise<EntityResult | NoContentResult> {
    const id = parseKey(key);
    planEntityQuery(context.rawQuery, DEVICE_SCORES_MODEL, {
      surface: context.surface,
      accepted: NO_OPTIONS,
    });
    const checked = parseDeviceScoreBody(body, context.surface, 'update');
    if (checked.id !== undefined && checked.id.toLowerCase() !== id) {
      throw new GraphException(
        GraphErrorCode.BadRequest,
        `The id '${checked.id}' in the body does not match the id '${id}' in the URL.`,
      );
    }
    const values = toColumnValues(checked);

    const row = await this.database.run(tenantId, async (manager) => {
      // The row lock makes the If-Match check and the write one step for concurrent requests.
      const current = await this.findRow(manager, tenantId, id, true);
      if (current === undefined) {
        throw notFoundById(id);
      }
      assertPrecondition(options.ifMatch, current);
      if (Object.keys(values).length === 0) {
        return current;
      }
      const result = await manager
        .createQueryBuilder()
        .update(DeviceScoreEntity)
        .set({ ...values, rowVersion: () => 'row_version + 1', updatedAt: () => 'now()' })
        .where('tenant_id = :tenantId AND id = :id', { tenantId, id })
        .returning(RETURNING_COLUMNS)
        .execute();
      return (result.raw as DeviceScoreRow[])[0];
    });

    const etag = etagOf(row);
    if (!options.returnRepresentation) {
      return new NoContentResult({ ETag: etag });
    }
    return new EntityResult(DEVICE_SCORES_SET_PATH, toDeviceScoreResource(row, context.surface), {
      status: 200,
      editLink: entityUrl(context, id),
      headers: { 'Preference-Applied': 'return=representation', ETag: etag },
    });
  }

  async remove(
    tenantId: string,
    key: string,
    context: GraphRequestContext,
    conditions: ConditionalHeaders = {},
  ): Promise<NoContentResult> {
    const id = parseKey(key);
    planEntityQuery(context.rawQuery, DEVICE_SCORES_MODEL, {
      surface: context.surface,
      accepted: NO_OPTIONS,
    });

    await this.database.run(tenantId, async (manager) => {
      const current = await this.findRow(manager, tenantId, id, true);
      if (current === undefined) {
        throw notFoundById(id);
      }
      assertPrecondition(conditions.ifMatch, current);
      await manager
        .createQueryBuilder()
        .delete()
        .from(DeviceScoreEntity)
        .where('tenant_id = :tenantId AND id = :id', { tenantId, id })
        .execute();
    });
    return new NoContentResult();
  }

  private async findRow(
    manager: EntityManager,
    tenantId: string,
    id: string,
    lock: boolean,
  ): Promise<DeviceScoreRow | undefined> {
    const query = this.selectRows(manager, tenantId).andWhere('ds.id = :id', { id });
    if (lock) {
      query.setLock('pessimistic_write');
    }
    const row = await query.getRawOne<DeviceScoreRow>();
    return row ?? undefined;
  }

  private selectRows(manager: EntityManager, tenantId: string): SelectQueryBuilder<DeviceScoreRow> {
    return manager
      .createQueryBuilder()
      .select(SELECT_COLUMNS)
      .from('device_scores', 'ds')
      .where('ds.tenant_id = :tenantId', { tenantId });
  }

  private applyConditions<T extends object>(
    query: SelectQueryBuilder<T>,
    plan: Pick<ListQueryPlan, 'filter' | 'search'>,
  ): void {
    if (plan.filter) {
      query.andWhere(plan.filter.sql, plan.filter.params);
    }
    if (plan.search) {
      query.andWhere(plan.search.sql, plan.search.params);
    }
  }

  private async countMatching(
    manager: EntityManager,
    tenantId: string,
    plan: Pick<ListQueryPlan, 'filter' | 'search'>,
  ): Promise<number> {
    const query = manager
      .createQueryBuilder()
      .select('count(*)::int', 'count')
      .from('device_scores', 'ds')
      .where('ds.tenant_id = :tenantId', { tenantId });
    this.applyConditions(query, plan);
    const row = await query.getRawOne<{ count: number }>();
    return Number(row?.count ?? 0);
  }

  private async readPage(
    manager: EntityManager,
    tenantId: string,
    plan: ListQueryPlan,
  ): Promise<DeviceScoreRow[]> {
    const query = this.selectRows(manager, tenantId);
    this.applyConditions(query, plan);
    if (plan.after) {
      query.andWhere(plan.after.sql, plan.after.params);
    }
    for (const order of plan.orderBy) {
      query.addOrderBy(
        `ds.${order.column}`,
        order.direction,
        order.nulls === 'FIRST' ? 'NULLS FIRST' : 'NULLS LAST',
      );
    }
    query.limit(plan.pageSize + 1);
    if (plan.skip > 0) {
      query.offset(plan.skip);
    }
    return query.getRawMany<DeviceScoreRow>();
  }
}
