/**
 * Model scores in the two forms the benchmark requests: the whole collection, and the models
 * with the lowest available endpoint analytics score as the dashboard lists them (`$filter`,
 * `$orderby`, `$top` and `$select`). Both read the `model_scores` view.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

import {
  authenticate,
  baseUrlOf,
  wireValue,
  HttpError,
  inTenant,
  JSON_TYPE,
  MAX_PAGE_SIZE,
  READ_PERMISSIONS,
  type Row,
} from './common.js';
import {
  encodeSkiptoken,
  nextLinkQuery,
  type QueryOptions,
  rawQueryOf,
  readQueryOptions,
  skiptokenScope,
} from './query-options.js';

export const MODEL_SCORES_PATH = '/beta/deviceManagement/userExperienceAnalyticsModelScores';
const SET_PATH = 'deviceManagement/userExperienceAnalyticsModelScores';
const ODATA_TYPE = '#microsoft.graph.userExperienceAnalyticsModelScores';
const AVAILABLE_FILTER = 'endpointAnalyticsScore ne -1';
const WORST_FIRST_ORDER = 'endpointAnalyticsScore,modelDeviceCount desc';

/** Wire name, column and kind of each property, in wire order. */
const PROPERTIES = [
  ['id', 'id', 'text'],
  ['model', 'model', 'text'],
  ['manufacturer', 'manufacturer', 'text'],
  ['modelDeviceCount', 'model_device_count', 'number'],
  ['endpointAnalyticsScore', 'endpoint_analytics_score', 'number'],
  ['startupPerformanceScore', 'startup_performance_score', 'number'],
  ['appReliabilityScore', 'app_reliability_score', 'number'],
  ['workFromAnywhereScore', 'work_from_anywhere_score', 'number'],
  ['batteryHealthScore', 'battery_health_score', 'number'],
  ['meanResourceSpikeTimeScore', 'mean_resource_spike_time_score', 'number'],
  ['healthStatus', 'health_status', 'health'],
] as const;
const PROPERTY_NAMES = new Set<string>(PROPERTIES.map(([name]) => name));

// The SQL below is the text the service sends, as PostgreSQL's statement log shows it, so both
// servers plan alike. The device count is cast to double precision, so pg returns a number
// instead of bigint text.
const SELECT_LIST = PROPERTIES.map(([name, column]) =>
  name === 'modelDeviceCount'
    ? `CAST(ms.${column} AS double precision) AS "${column}"`
    : `ms.${column} AS "${column}"`,
).join(', ');
const AVAILABLE_CONDITION = '((ms.endpoint_analytics_score <> CAST($2 AS double precision)))';
const WORST_FIRST_SQL_ORDER =
  'ms.endpoint_analytics_score ASC NULLS LAST, ms.model_device_count DESC NULLS FIRST, ' +
  'ms.id ASC NULLS LAST';
const ID_ORDER = 'ms.id ASC NULLS LAST';

interface ModelScoresOptions {
  availableOnly: boolean;
  worstFirst: boolean;
  pageSize: number;
  select?: string[];
}

/** Reads the options of the two requests the benchmark sends. Other options are a 400. */
function readOptions(query: QueryOptions): ModelScoresOptions {
  const options: ModelScoresOptions = {
    availableOnly: false,
    worstFirst: false,
    pageSize: MAX_PAGE_SIZE,
  };
  for (const [name, value] of query) {
    const select = value.split(',');
    if (name === 'filter' && value === AVAILABLE_FILTER) {
      options.availableOnly = true;
    } else if (name === 'orderby' && value === WORST_FIRST_ORDER) {
      options.worstFirst = true;
    } else if (name === 'top' && /^\d{1,9}$/.test(value)) {
      options.pageSize = Math.min(Number(value), MAX_PAGE_SIZE);
    } else if (name === 'select' && select.every((item) => PROPERTY_NAMES.has(item))) {
      options.select = select;
    } else {
      throw new HttpError(400, 'BadRequest', `The baseline does not support $${name}=${value}.`);
    }
  }
  return options;
}

function pageQuery(tenantId: string, options: ModelScoresOptions) {
  const values: unknown[] = [tenantId];
  const conditions = ['ms.tenant_id = $1'];
  if (options.availableOnly) {
    values.push(-1);
    conditions.push(AVAILABLE_CONDITION);
  }
  const order = options.worstFirst ? WORST_FIRST_SQL_ORDER : ID_ORDER;
  values.push(options.pageSize + 1);
  const sql =
    `SELECT ${SELECT_LIST} FROM model_scores ms WHERE ${conditions.join(' AND ')} ` +
    `ORDER BY ${order} LIMIT $${values.length}`;
  return { sql, values };
}

/** Returns a mapper from view rows to entities with the selected properties in wire order. */
function entityMapper(select: readonly string[] | undefined): (row: Row) => Row {
  const selected = select === undefined ? undefined : new Set(select);
  const properties = PROPERTIES.filter(([name]) => selected === undefined || selected.has(name));
  return (row) => {
    const entity: Row = { '@odata.type': ODATA_TYPE };
    for (const [name, column, kind] of properties) {
      entity[name] = wireValue(kind, row[column]);
    }
    return entity;
  };
}

/** Lists one page of the tenant's model scores. */
export async function listModelScores(
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<string> {
  const caller = await authenticate(request, READ_PERMISSIONS);
  const query = readQueryOptions(rawQueryOf(request.raw.url ?? ''));
  const options = readOptions(query);
  const { sql, values } = pageQuery(caller.tenantId, options);

  const rows = await inTenant(
    caller.tenantId,
    async (client) => (await client.query<Row>(sql, values)).rows,
  );

  const hasMore = rows.length > options.pageSize;
  const page = hasMore ? rows.slice(0, options.pageSize) : rows;
  const base = baseUrlOf(request);
  const selection = options.select === undefined ? '' : `(${options.select.join(',')})`;
  const body: Row = {
    '@odata.context': `${base}/$metadata#${SET_PATH}${selection}`,
    value: page.map(entityMapper(options.select)),
  };
  if (hasMore) {
    const last = page[page.length - 1];
    const keys = options.worstFirst
      ? [last.endpoint_analytics_score, last.model_device_count, last.id]
      : [last.id];
    const skiptoken = encodeSkiptoken(keys, skiptokenScope(caller.tenantId, SET_PATH, query));
    body['@odata.nextLink'] = `${base}/${SET_PATH}?${nextLinkQuery(query, { skiptoken })}`;
  }
  reply.type(JSON_TYPE);
  return JSON.stringify(body);
}
