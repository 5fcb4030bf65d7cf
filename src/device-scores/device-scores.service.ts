import { randomUUID } from 'node:crypto';

import { Inject, Injectable } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { type Statement, TenantDatabase, type TenantQueries } from '../database/tenant-database.js';
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
  APPLY_RESULT_ALIAS,
  type AggregateCountPlan,
  type AggregateQueryPlan,
  type ApplyQueryOptions,
  toAggregateEntity,
} from '../odata/query/apply-query.js';
import {
  type ListQueryPlan,
  planCollectionCount,
  planCollectionQuery,
  planEntityQuery,
} from '../odata/query/list-query.js';
import type { SqlFragment } from '../odata/query/sql-fragment.js';
import { type DeviceScoreBody, parseDeviceScoreBody } from './device-score-body.js';
import {
  DEVICE_SCORE_COLUMNS,
  type DeviceScoreRow,
  createdMicrosExpression,
  deviceScoreMapper,
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
  'apply',
  'format',
]);
const COUNT_OPTIONS = new Set(['filter', 'search', 'apply']);
const ENTITY_OPTIONS = new Set(['select', 'format']);
const NO_OPTIONS = new Set<string>();
const SELECT_LIST = [
  ...DEVICE_SCORE_COLUMNS.map((column) => `ds.${column} AS "${column}"`),
  createdMicrosExpression('ds'),
].join(', ');
const RETURNING_LIST = [
  ...DEVICE_SCORE_COLUMNS.map((column) => `"${column}"`),
  createdMicrosExpression(),
].join(', ');
/**
 * `$apply` on device scores: a score of -1 means "not available", so sum, min, max and average
 * leave it out unless the request adds includeUnavailableScores=true.
 */
const APPLY_OPTIONS: ApplyQueryOptions = {
  unavailable: {
    value: -1,
    properties: DEVICE_SCORES_MODEL.properties
      .filter((property) => property.kind === 'double')
      .map((property) => property.name),
  },
  includeUnavailableOption: 'includeUnavailableScores',
};
const HEALTH_VALUES = new Map(
  HEALTH_STATE_ENUM.members.map((member) => [member.name, member.value]),
);

// The statements are SQL text with positional parameters, written once here, because building
// them with TypeORM's query builder on every request cost more CPU than running them.
const SELECT_BY_ID = `SELECT ${SELECT_LIST} FROM device_scores ds WHERE ds.tenant_id = $1 AND ds.id = $2`;
const SELECT_BY_ID_FOR_UPDATE = `${SELECT_BY_ID} FOR UPDATE`;
const DELETE_BY_ID = 'DELETE FROM device_scores WHERE tenant_id = $1 AND id = $2';

/**
 * Planner settings for the rest of a transaction with `$search`. Under row-level security,
 * PostgreSQL 15 uses no column statistics for operators that are not leakproof, such as ILIKE, so
 * it estimates that almost no row matches. It then reads every row of the tenant and sorts them
 * instead of walking the index of the sort order until the page is full. With bitmap and
 * sequential scans off, EXPLAIN ANALYZE of the first page of `$search=thinkpad` over 100,000 rows
 * of a tenant took 2 ms instead of 217 ms.
 */
const SEARCH_PLANNER_SETTINGS: Statement = {
  text: "SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true)",
};

/** Columns a create or update body may write, keyed by wire property name. */
const WRITABLE_COLUMNS: ReadonlyMap<string, string> = new Map(
  DEVICE_SCORES_MODEL.properties
    .filter((property) => property.name !== DEVICE_SCORES_MODEL.key)
    .map((property) => [property.name, property.column]),
);

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

/** Turns the checked body into values keyed by column; health status becomes its stored number. */
function toColumnValues(body: DeviceScoreBody): Map<string, unknown> {
  const values = new Map<string, unknown>();
  for (const [property, column] of WRITABLE_COLUMNS) {
    const value = body[property as keyof DeviceScoreBody];
    if (value !== undefined) {
      values.set(column, property === 'healthStatus' ? HEALTH_VALUES.get(value as string) : value);
    }
  }
  return values;
}

/**
 * Collects positional parameters for one statement. Fragments from the query compiler name
 * their parameters (`:odata_f_0`); `add` numbers them in order of appearance.
 */
class PositionalParameters {
  readonly values: unknown[] = [];

  /** Adds a value and returns its placeholder, such as `$3`. */
  next(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  /** Returns the fragment's SQL with each named parameter replaced by a positional one. */
  add(fragment: SqlFragment): string {
    const placeholders = new Map<string, string>();
    return fragment.sql.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (match, name: string) => {
      if (!Object.hasOwn(fragment.params, name)) {
        // Not a parameter, for example part of a `::type` cast.
        return match;
      }
      let placeholder = placeholders.get(name);
      if (placeholder === undefined) {
        placeholder = this.next(fragment.params[name]);
        placeholders.set(name, placeholder);
      }
      return placeholder;
    });
  }
}

/** Builds the WHERE clause of a list or count statement: tenant, $filter and $search. */
function matchingConditions(
  parameters: PositionalParameters,
  tenantId: string,
  plan: Pick<ListQueryPlan, 'filter' | 'search'>,
): string[] {
  const conditions = [`ds.tenant_id = ${parameters.next(tenantId)}`];
  if (plan.filter) {
    conditions.push(`(${parameters.add(plan.filter)})`);
  }
  if (plan.search) {
    conditions.push(`(${parameters.add(plan.search)})`);
  }
  return conditions;
}

/**
 * Builds the FROM and WHERE clauses over the result of an aggregating `$apply`, which starts
 * from the tenant's device scores.
 */
function aggregatedFrom(
  parameters: PositionalParameters,
  tenantId: string,
  plan: Pick<AggregateCountPlan, 'relation' | 'filter' | 'search'>,
): string {
  const relation = plan.relation({
    from: 'device_scores ds',
    alias: 'ds',
    condition: { sql: 'ds.tenant_id = :tenantId', params: { tenantId } },
  });
  const from = `FROM (${parameters.add(relation)}) ${APPLY_RESULT_ALIAS}`;
  const conditions = [plan.filter, plan.search].flatMap((fragment) =>
    fragment === undefined ? [] : [`(${parameters.add(fragment)})`],
  );
  return conditions.length === 0 ? from : `${from} WHERE ${conditions.join(' AND ')}`;
}

/** Builds the statement that counts the tenant's rows matching $filter and $search. */
function countStatement(
  tenantId: string,
  plan: Pick<ListQueryPlan, 'filter' | 'search'>,
): Statement {
  const parameters = new PositionalParameters();
  const conditions = matchingConditions(parameters, tenantId, plan);
  return {
    text: `SELECT count(*)::int AS "count" FROM device_scores ds WHERE ${conditions.join(' AND ')}`,
    values: parameters.values,
  };
}

function countOf(rows: readonly object[]): number {
  return Number((rows[0] as { count?: number } | undefined)?.count ?? 0);
}

/** Builds the statement that reads one page of a list, plus one row that shows a next page. */
function pageStatement(tenantId: string, plan: ListQueryPlan): Statement {
  const parameters = new PositionalParameters();
  const conditions = matchingConditions(parameters, tenantId, plan);
  if (plan.after) {
    conditions.push(`(${parameters.add(plan.after)})`);
  }
  const order = plan.orderBy.map(
    (column) => `ds.${column.column} ${column.direction} NULLS ${column.nulls}`,
  );
  let text =
    `SELECT ${SELECT_LIST} FROM device_scores ds WHERE ${conditions.join(' AND ')} ` +
    `ORDER BY ${order.join(', ')} LIMIT ${parameters.next(plan.pageSize + 1)}`;
  if (plan.skip > 0) {
    text += ` OFFSET ${parameters.next(plan.skip)}`;
  }
  return { text, values: parameters.values };
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
    const collection = planCollectionQuery(context.rawQuery, DEVICE_SCORES_MODEL, {
      surface: context.surface,
      maxPageSize: this.config.maxPageSize,
      skiptokenSecret: this.config.skiptokenSecret,
      scope: `${tenantId}|${context.surface}|${DEVICE_SCORES_SET_PATH}`,
      accepted: LIST_OPTIONS,
      alias: 'ds',
      apply: APPLY_OPTIONS,
    });
    if (collection.kind === 'aggregate') {
      return this.listAggregated(tenantId, context, collection.plan);
    }
    const plan = collection.plan;

    const statements: Statement[] = plan.search ? [SEARCH_PLANNER_SETTINGS] : [];
    const countIndex = statements.length;
    if (plan.count) {
      statements.push(countStatement(tenantId, plan));
    }
    if (plan.pageSize > 0) {
      statements.push(pageStatement(tenantId, plan));
    }
    const results = await this.database.read(tenantId, statements);
    const count = plan.count ? countOf(results[countIndex]) : undefined;
    const rows = plan.pageSize > 0 ? (results[results.length - 1] as DeviceScoreRow[]) : [];

    const hasMore = rows.length > plan.pageSize;
    const page = hasMore ? rows.slice(0, plan.pageSize) : rows;
    return new CollectionResult(
      DEVICE_SCORES_SET_PATH,
      page.map(deviceScoreMapper(context.surface, plan.select)),
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
    const counting = planCollectionCount(context.rawQuery, DEVICE_SCORES_MODEL, {
      surface: context.surface,
      accepted: COUNT_OPTIONS,
      alias: 'ds',
      apply: APPLY_OPTIONS,
    });
    const total = await this.database.runQueries(tenantId, (queries) =>
      counting.kind === 'aggregate'
        ? this.countAggregated(queries, tenantId, counting.plan)
        : this.countMatching(queries, tenantId, counting.plan),
    );
    return new CountResult(total);
  }

  /**
   * Lists the result of an `$apply` that aggregates. Its rows are transient, so they have no
   * id, edit link or entity tag, and the next link pages with `$skip`.
   */
  private async listAggregated(
    tenantId: string,
    context: GraphRequestContext,
    plan: AggregateQueryPlan,
  ): Promise<CollectionResult> {
    const { rows, count } = await this.database.runQueries(tenantId, async (queries) => {
      const total = plan.count ? await this.countAggregated(queries, tenantId, plan) : undefined;
      const page = plan.pageSize > 0 ? await this.readAggregatePage(queries, tenantId, plan) : [];
      return { rows: page, count: total };
    });

    const hasMore = rows.length > plan.pageSize;
    const page = hasMore ? rows.slice(0, plan.pageSize) : rows;
    return new CollectionResult(
      DEVICE_SCORES_SET_PATH,
      page.map((row) => toAggregateEntity(row, plan, context.metadata)),
      {
        select: plan.contextSelect,
        count,
        nextLinkQuery: hasMore ? plan.nextLinkQuery() : undefined,
        collectionPath: DEVICE_SCORES_SET_PATH,
      },
    );
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

    const [rows] = await this.database.read(tenantId, [
      { text: SELECT_BY_ID, values: [tenantId, id] },
    ]);
    const row = rows[0] as DeviceScoreRow | undefined;
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
    const values = new Map([['tenant_id', tenantId], ['id', id], ...toColumnValues(checked)]);
    const parameters = new PositionalParameters();
    const placeholders = [...values.values()].map((value) => parameters.next(value));
    const insert =
      `INSERT INTO device_scores (${[...values.keys()].join(', ')}) ` +
      `VALUES (${placeholders.join(', ')}) ON CONFLICT DO NOTHING RETURNING ${RETURNING_LIST}`;

    const rows = await this.database.runQueries(tenantId, (queries) =>
      queries.finish<DeviceScoreRow>(insert, parameters.values),
    );
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

    const parameters = new PositionalParameters();
    const assignments = [...values].map(
      ([column, value]) => `${column} = ${parameters.next(value)}`,
    );
    const update =
      `UPDATE device_scores SET ${assignments.join(', ')}, row_version = row_version + 1, ` +
      `updated_at = now() WHERE tenant_id = ${parameters.next(tenantId)} ` +
      `AND id = ${parameters.next(id)} RETURNING ${RETURNING_LIST}`;

    const row = await this.database.runQueries(tenantId, async (queries) => {
      // The row lock makes the If-Match check and the write one step for concurrent requests.
      const current = await this.findRow(queries, tenantId, id, true);
      if (current === undefined) {
        throw notFoundById(id);
      }
      assertPrecondition(options.ifMatch, current);
      if (values.size === 0) {
        return current;
      }
      const [updated] = await queries.finish<DeviceScoreRow>(update, parameters.values);
      return updated;
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

    await this.database.runQueries(tenantId, async (queries) => {
      const current = await this.findRow(queries, tenantId, id, true);
      if (current === undefined) {
        throw notFoundById(id);
      }
      assertPrecondition(conditions.ifMatch, current);
      await queries.finish(DELETE_BY_ID, [tenantId, id]);
    });
    return new NoContentResult();
  }

  private async findRow(
    queries: TenantQueries,
    tenantId: string,
    id: string,
    lock: boolean,
  ): Promise<DeviceScoreRow | undefined> {
    const [row] = await queries.query<DeviceScoreRow>(
      lock ? SELECT_BY_ID_FOR_UPDATE : SELECT_BY_ID,
      [tenantId, id],
    );
    return row;
  }

  private async countMatching(
    queries: TenantQueries,
    tenantId: string,
    plan: Pick<ListQueryPlan, 'filter' | 'search'>,
  ): Promise<number> {
    const { text, values } = countStatement(tenantId, plan);
    return countOf(await queries.query(text, values));
  }

  private async countAggregated(
    queries: TenantQueries,
    tenantId: string,
    plan: AggregateCountPlan,
  ): Promise<number> {
    const parameters = new PositionalParameters();
    const from = aggregatedFrom(parameters, tenantId, plan);
    const [row] = await queries.query<{ count: number }>(
      `SELECT count(*)::int AS "count" ${from}`,
      parameters.values,
    );
    return Number(row?.count ?? 0);
  }

  private async readAggregatePage(
    queries: TenantQueries,
    tenantId: string,
    plan: AggregateQueryPlan,
  ): Promise<Record<string, unknown>[]> {
    const parameters = new PositionalParameters();
    const from = aggregatedFrom(parameters, tenantId, plan);
    const columns = plan.properties.map(
      (property) => `${APPLY_RESULT_ALIAS}.${property.column} AS "${property.column}"`,
    );
    const order = plan.orderBy.map(
      (column) =>
        `${APPLY_RESULT_ALIAS}.${column.column} ${column.direction} NULLS ${column.nulls}`,
    );
    let sql = `SELECT ${columns.join(', ')} ${from}`;
    if (order.length > 0) {
      sql += ` ORDER BY ${order.join(', ')}`;
    }
    sql += ` LIMIT ${parameters.next(plan.pageSize + 1)}`;
    if (plan.skip > 0) {
      sql += ` OFFSET ${parameters.next(plan.skip)}`;
    }
    return queries.query<Record<string, unknown>>(sql, parameters.values);
  }
}
