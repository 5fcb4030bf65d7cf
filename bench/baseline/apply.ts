/**
 * `$apply` on device scores in the one form the benchmark sends: the average endpoint analytics
 * score and the device count of each manufacturer and model, sorted by the average and paged
 * with `$top` and `$skip`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

import {
  baseUrlOf,
  type Caller,
  HttpError,
  inTenant,
  JSON_TYPE,
  MAX_PAGE_SIZE,
  type Row,
} from './common.js';
import { nextLinkQuery, type QueryOptions } from './query-options.js';

const SET_PATH = 'deviceManagement/userExperienceAnalyticsDeviceScores';
const GROUP_BY_MODEL =
  'groupby((manufacturer,model),aggregate(endpointAnalyticsScore with average as averageScore,' +
  '$count as deviceCount))';
const RESULT_PROPERTIES = ['manufacturer', 'model', 'averageScore', 'deviceCount'];
/** The score that means "not available", which the average leaves out. */
const UNAVAILABLE_SCORE = -1;

// The text the service sends for this request, as PostgreSQL's statement log shows it, so both
// servers plan alike. $1 is the unavailable score, $2 the tenant, $3 the page size plus one.
const GROUP_BY_MODEL_SQL =
  'SELECT apply_result.c0 AS "c0", apply_result.c1 AS "c1", apply_result.c2 AS "c2", ' +
  'apply_result.c3 AS "c3" FROM (SELECT ds.manufacturer AS c0, ds.model AS c1, ' +
  'avg(ds.endpoint_analytics_score) FILTER (WHERE ds.endpoint_analytics_score <> ' +
  'CAST($1 AS double precision)) AS c2, CAST(count(*) AS double precision) AS c3 ' +
  'FROM device_scores ds WHERE (ds.tenant_id = $2) GROUP BY ds.manufacturer, ds.model) ' +
  'apply_result ORDER BY apply_result.c2 ASC NULLS FIRST, apply_result.c0 ASC NULLS FIRST, ' +
  'apply_result.c1 ASC NULLS FIRST LIMIT $3';

/**
 * Reads `$top` and `$skip` beside the supported `$apply` and `$orderby`. Other options are a 400.
 */
function readPaging(query: QueryOptions): { pageSize: number; skip: number } {
  if (query.get('apply') !== GROUP_BY_MODEL || query.get('orderby') !== 'averageScore') {
    throw new HttpError(
      400,
      'BadRequest',
      `The baseline supports only $apply=${GROUP_BY_MODEL} with $orderby=averageScore.`,
    );
  }
  let top: number | undefined;
  let skip = 0;
  for (const [name, value] of query) {
    const whole = /^\d{1,9}$/.test(value);
    if (name === 'top' && whole) {
      top = Number(value);
    } else if (name === 'skip' && whole) {
      skip = Number(value);
    } else if (name !== 'apply' && name !== 'orderby') {
      throw new HttpError(
        400,
        'BadRequest',
        `The baseline does not support $${name}=${value} with $apply.`,
      );
    }
  }
  return { pageSize: Math.min(top ?? MAX_PAGE_SIZE, MAX_PAGE_SIZE), skip };
}

/**
 * Maps a result row to its wire form. The count carries its Edm.Decimal type, as in the service.
 */
function toGroup(row: Row): Row {
  return {
    manufacturer: row.c0 ?? null,
    model: row.c1 ?? null,
    averageScore: row.c2 === null ? null : Number(row.c2),
    'deviceCount@odata.type': '#Decimal',
    deviceCount: Number(row.c3),
  };
}

/** Lists one page of the average score and device count per manufacturer and model. */
export async function listGroupedByModel(
  request: FastifyRequest,
  reply: FastifyReply,
  caller: Caller,
  query: QueryOptions,
): Promise<string> {
  const { pageSize, skip } = readPaging(query);
  const values: unknown[] = [UNAVAILABLE_SCORE, caller.tenantId, pageSize + 1];
  let sql = GROUP_BY_MODEL_SQL;
  if (skip > 0) {
    values.push(skip);
    sql += ' OFFSET $4';
  }

  const rows = await inTenant(
    caller.tenantId,
    async (client) => (await client.query<Row>(sql, values)).rows,
  );

  const hasMore = rows.length > pageSize;
  const page = hasMore ? rows.slice(0, pageSize) : rows;
  const base = baseUrlOf(request);
  const body: Row = {
    '@odata.context': `${base}/$metadata#${SET_PATH}(${RESULT_PROPERTIES.join(',')})`,
    value: page.map(toGroup),
  };
  if (hasMore) {
    const next = nextLinkQuery(query, { skip: String(skip + pageSize) });
    body['@odata.nextLink'] = `${base}/${SET_PATH}?${next}`;
  }
  reply.type(JSON_TYPE);
  return JSON.stringify(body);
}
