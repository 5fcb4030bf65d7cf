import { randomUUID } from 'node:crypto';

import { Inject, Injectable } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { TenantDatabase, type TenantQueries } from '../database/tenant-database.js';
import { etagMatches } from '../odata/http/etag.js';
import { GraphErrorCode, GraphException } from '../odata/http/graph-error.js';
import { EntityResult, NoContentResult, NotModifiedResult } from '../odata/http/odata-result.js';
import type { GraphRequestContext } from '../odata/http/request-context.js';
import { PositionalParameters } from '../odata/query/positional-parameters.js';
import {
  ENTITY_OPTIONS,
  EntitySetReader,
  type EntitySetSource,
} from '../odata/read/entity-set-reader.js';
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

const NO_OPTIONS = new Set<string>();
const RETURNING_LIST = [
  ...DEVICE_SCORE_COLUMNS.map((column) => `"${column}"`),
  createdMicrosExpression(),
].join(', ');
const HEALTH_VALUES = new Map(
  HEALTH_STATE_ENUM.members.map((member) => [member.name, member.value]),
);
const DELETE_BY_ID = 'DELETE FROM device_scores WHERE tenant_id = $1 AND id = $2';

/** The device_scores table and its mapper, for list, `/$count` and get by id. */
const DEVICE_SCORES_SOURCE: EntitySetSource = {
  model: DEVICE_SCORES_MODEL,
  setPath: DEVICE_SCORES_SET_PATH,
  table: 'device_scores',
  alias: 'ds',
  selectList: [
    ...DEVICE_SCORE_COLUMNS.map((column) => `ds.${column} AS "${column}"`),
    createdMicrosExpression('ds'),
  ].join(', '),
  /**
   * `$apply` on device scores: a score of -1 means "not available", so sum, min, max and average
   * leave it out unless the request adds includeUnavailableScores=true.
   */
  apply: {
    unavailable: {
      value: -1,
      properties: DEVICE_SCORES_MODEL.properties
        .filter((property) => property.kind === 'double')
        .map((property) => property.name),
    },
    includeUnavailableOption: 'includeUnavailableScores',
  },
  mapper: deviceScoreMapper,
  /**
   * Planner settings for the rest of a transaction with `$search`. Under row-level security,
   * PostgreSQL 15 uses no column statistics for operators that are not leakproof, such as ILIKE,
   * so it estimates that almost no row matches. It then reads every row of the tenant and sorts
   * them instead of walking the index of the sort order until the page is full. With bitmap and
   * sequential scans off, EXPLAIN ANALYZE of the first page of `$search=thinkpad` over 100,000
   * rows of a tenant took 2 ms instead of 217 ms.
   */
  searchSettings: {
    text:
      "SELECT set_config('enable_bitmapscan', 'off', true), " +
      "set_config('enable_seqscan', 'off', true)",
  },
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
 * The five operations on device scores. Every database call runs in the caller's tenant
 * transaction and also names the tenant in its WHERE clause.
 */
@Injectable()
export class DeviceScoresService extends EntitySetReader {
  private readonly selectByIdForUpdateSql = `${this.selectByIdSql} FOR UPDATE`;

  constructor(database: TenantDatabase, @Inject(APP_CONFIG) config: AppConfig) {
    super(database, config, DEVICE_SCORES_SOURCE);
  }

  async get(
    tenantId: string,
    key: string,
    context: GraphRequestContext,
    conditions: ConditionalHeaders = {},
  ): Promise<EntityResult | NotModifiedResult> {
    const id = this.parseKey(key);
    const { select } = this.planEntity(context, ENTITY_OPTIONS);

    const [rows] = await this.database.read(tenantId, [
      { text: this.selectByIdSql, values: [tenantId, id] },
    ]);
    const row = rows[0] as DeviceScoreRow | undefined;
    if (row === undefined) {
      throw this.notFoundById(id);
    }

    const etag = etagOf(row);
    if (conditions.ifNoneMatch !== undefined && etagMatches(conditions.ifNoneMatch, etag)) {
      return new NotModifiedResult({ ETag: etag });
    }
    return new EntityResult(
      DEVICE_SCORES_SET_PATH,
      toDeviceScoreResource(row, context.surface, select),
      { select, editLink: this.entityUrl(context, id), headers: { ETag: etag } },
    );
  }

  async create(
    tenantId: string,
    body: unknown,
    context: GraphRequestContext,
  ): Promise<EntityResult> {
    this.planEntity(context, NO_OPTIONS);
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
        location: this.entityUrl(context, id),
        editLink: this.entityUrl(context, id),
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
    const id = this.parseKey(key);
    this.planEntity(context, NO_OPTIONS);
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
      const current = await this.findRowForUpdate(queries, tenantId, id);
      if (current === undefined) {
        throw this.notFoundById(id);
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
      editLink: this.entityUrl(context, id),
      headers: { 'Preference-Applied': 'return=representation', ETag: etag },
    });
  }

  async remove(
    tenantId: string,
    key: string,
    context: GraphRequestContext,
    conditions: ConditionalHeaders = {},
  ): Promise<NoContentResult> {
    const id = this.parseKey(key);
    this.planEntity(context, NO_OPTIONS);

    await this.database.runQueries(tenantId, async (queries) => {
      const current = await this.findRowForUpdate(queries, tenantId, id);
      if (current === undefined) {
        throw this.notFoundById(id);
      }
      assertPrecondition(conditions.ifMatch, current);
      await queries.finish(DELETE_BY_ID, [tenantId, id]);
    });
    return new NoContentResult();
  }

  private async findRowForUpdate(
    queries: TenantQueries,
    tenantId: string,
    id: string,
  ): Promise<DeviceScoreRow | undefined> {
    const [row] = await queries.query<DeviceScoreRow>(this.selectByIdForUpdateSql, [tenantId, id]);
    return row;
  }
}
