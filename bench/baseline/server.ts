/**
 * The benchmark baseline: plain Fastify, pg and jose doing the work no implementation of the
 * routes the benchmark calls can skip. It verifies the same RS256 access token against the same
 * JWKS file. It runs the service's SQL in the same tenant transaction, with the role eas_request
 * and eas.tenant_id set by set_config, so row-level security applies. It signs next links with an
 * HMAC in the service's skiptoken format and sends the same JSON and headers. It serves only the
 * /beta surface and only the query options the benchmark scenarios use. Any other option is a
 * 400. Device scores are served here, `$apply` on them in apply.ts and model scores in
 * model-scores.ts.
 *
 * Settings: PORT, DATABASE_URL, AUTH_JWKS_FILE, AUTH_AUDIENCE, SKIPTOKEN_SECRET and POOL_SIZE
 * (default 10, as the service).
 */
import { randomUUID } from 'node:crypto';

import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';

import { listGroupedByModel } from './apply.js';
import {
  authenticate,
  baseUrlOf,
  environment,
  GUID,
  HEALTH_NAMES,
  wireValue,
  HttpError,
  inTenant,
  JSON_TYPE,
  MAX_PAGE_SIZE,
  pool,
  READ_PERMISSIONS,
  type Row,
  WRITE_PERMISSIONS,
} from './common.js';
import { listModelScores, MODEL_SCORES_PATH } from './model-scores.js';
import {
  decodeSkiptoken,
  encodeSkiptoken,
  nextLinkQuery,
  type QueryOptions,
  rawQueryOf,
  readQueryOptions,
  skiptokenScope,
} from './query-options.js';

const COLLECTION_PATH = '/beta/deviceManagement/userExperienceAnalyticsDeviceScores';
const SET_PATH = 'deviceManagement/userExperienceAnalyticsDeviceScores';
const ODATA_TYPE = '#microsoft.graph.userExperienceAnalyticsDeviceScores';

/** The headers @fastify/helmet adds in the service, sent here as constants. */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';" +
    "frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';" +
    "script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-site',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
};

/** Wire name, column and kind of each property, in wire order. */
const PROPERTIES = [
  ['id', 'id', 'guid'],
  ['deviceName', 'device_name', 'text'],
  ['model', 'model', 'text'],
  ['manufacturer', 'manufacturer', 'text'],
  ['endpointAnalyticsScore', 'endpoint_analytics_score', 'score'],
  ['startupPerformanceScore', 'startup_performance_score', 'score'],
  ['appReliabilityScore', 'app_reliability_score', 'score'],
  ['workFromAnywhereScore', 'work_from_anywhere_score', 'score'],
  ['batteryHealthScore', 'battery_health_score', 'score'],
  ['meanResourceSpikeTimeScore', 'mean_resource_spike_time_score', 'score'],
  ['healthStatus', 'health_status', 'health'],
] as const;
const COLUMN_OF = new Map<string, string>(PROPERTIES.map(([name, column]) => [name, column]));
const KIND_OF = new Map<string, string>(PROPERTIES.map(([name, , kind]) => [name, kind]));

// The SQL below is the text the service sends, as PostgreSQL's statement log shows it, so both
// servers plan alike.
const COLUMN_LIST = [...PROPERTIES.map(([, column]) => column), 'row_version'];
const SELECT_LIST =
  COLUMN_LIST.map((column) => `ds.${column} AS "${column}"`).join(', ') +
  ', floor(extract(epoch from ds.created_at) * 1000000)::bigint::text AS "created_us"';
const RETURNING_LIST =
  COLUMN_LIST.map((column) => `"${column}"`).join(', ') +
  ', floor(extract(epoch from created_at) * 1000000)::bigint::text AS "created_us"';
/** Columns a body may write, in the order the service lists them in INSERT and UPDATE. */
const WRITABLE_COLUMNS = PROPERTIES.map(([, column]) => column).filter((column) => column !== 'id');
// The service turns these planner settings on for $search, because under row-level security
// PostgreSQL estimates ILIKE without column statistics and would read every row of the tenant.
const SEARCH_PLANNER_SETTINGS =
  "SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true)";
const SELECT_BY_ID = `SELECT ${SELECT_LIST} FROM device_scores ds WHERE ds.tenant_id = $1 AND ds.id = $2`;

function etagOf(row: Row): string {
  return `W/"${String(row.row_version)}-${String(row.created_us)}"`;
}

function toEntity(row: Row): Row {
  const entity: Row = { '@odata.type': ODATA_TYPE, '@odata.etag': etagOf(row) };
  for (const [name, column, kind] of PROPERTIES) {
    entity[name] = wireValue(kind, row[column]);
  }
  return entity;
}

function startReply(request: FastifyRequest, reply: FastifyReply): void {
  const requestId = randomUUID();
  const offered = request.headers['client-request-id'];
  reply.headers(SECURITY_HEADERS);
  reply.header('request-id', requestId);
  reply.header(
    'client-request-id',
    typeof offered === 'string' && offered.length <= 128 ? offered : requestId,
  );
  reply.header('OData-Version', '4.0');
}

function sendEntity(request: FastifyRequest, reply: FastifyReply, row: Row, status: number) {
  const etag = etagOf(row);
  const body = {
    '@odata.context': `${baseUrlOf(request)}/$metadata#${SET_PATH}/$entity`,
    ...toEntity(row),
  };
  reply.status(status).header('ETag', etag).type(JSON_TYPE);
  return JSON.stringify(body);
}

interface ListOptions {
  health?: number;
  orderByScore: boolean;
  top?: number;
  count: boolean;
  search?: string;
  skiptoken?: string;
}

/** Reads the query options the list scenarios use. Other options are a 400. */
function readListOptions(query: QueryOptions): ListOptions {
  const options: ListOptions = { orderByScore: false, count: false };
  for (const [name, value] of query) {
    if (name === 'filter') {
      const match = /^healthStatus eq '(\w+)'$/.exec(value);
      const health = match === null ? -1 : HEALTH_NAMES.indexOf(match[1]);
      if (health < 0) {
        throw new HttpError(400, 'BadRequest', `The baseline does not support $filter=${value}.`);
      }
      options.health = health;
    } else if (name === 'orderby' && value === 'endpointAnalyticsScore desc') {
      options.orderByScore = true;
    } else if (name === 'top' && /^\d{1,9}$/.test(value)) {
      options.top = Number(value);
    } else if (name === 'count' && (value === 'true' || value === 'false')) {
      options.count = value === 'true';
    } else if (name === 'search' && /^\w+$/.test(value)) {
      options.search = value;
    } else if (name === 'skiptoken') {
      options.skiptoken = value;
    } else {
      throw new HttpError(400, 'BadRequest', `The baseline does not support $${name}=${value}.`);
    }
  }
  return options;
}

/** Builds the page query in the form the service's query compiler produces. */
function pageQuery(tenantId: string, options: ListOptions, after?: unknown[]) {
  const values: unknown[] = [tenantId];
  const conditions = ['ds.tenant_id = $1'];
  if (options.health !== undefined) {
    values.push(options.health);
    conditions.push(`((ds.health_status = CAST($${values.length} AS smallint)))`);
  }
  if (options.search !== undefined) {
    values.push(`%${options.search}%`);
    const term = `CAST($${values.length} AS text)`;
    conditions.push(
      `((ds.device_name ILIKE ${term} ESCAPE '\\' OR ds.model ILIKE ${term} ESCAPE '\\' ` +
        `OR ds.manufacturer ILIKE ${term} ESCAPE '\\'))`,
    );
  }
  const countSql = `SELECT count(*)::int AS "count" FROM device_scores ds WHERE ${conditions.join(' AND ')}`;
  const countValues = [...values];

  if (after !== undefined && options.orderByScore) {
    values.push(after[0], after[1]);
    const score = `CAST($${values.length - 1} AS double precision)`;
    const id = `CAST($${values.length} AS uuid)`;
    conditions.push(
      `((ds.endpoint_analytics_score <= ${score} AND ` +
        `((ds.endpoint_analytics_score < ${score}) OR ` +
        `(ds.endpoint_analytics_score = ${score} AND ds.id > ${id}))))`,
    );
  } else if (after !== undefined) {
    values.push(after[0]);
    conditions.push(`(((ds.id) > (CAST($${values.length} AS uuid))))`);
  }
  const order = options.orderByScore
    ? 'ds.endpoint_analytics_score DESC NULLS FIRST, ds.id ASC NULLS LAST'
    : 'ds.id ASC NULLS LAST';
  const pageSize = Math.min(options.top ?? MAX_PAGE_SIZE, MAX_PAGE_SIZE);
  values.push(pageSize + 1);
  const pageSql =
    `SELECT ${SELECT_LIST} FROM device_scores ds WHERE ${conditions.join(' AND ')} ` +
    `ORDER BY ${order} LIMIT $${values.length}`;
  return { pageSql, values, countSql, countValues, pageSize };
}

async function list(request: FastifyRequest, reply: FastifyReply): Promise<string> {
  const caller = await authenticate(request, READ_PERMISSIONS);
  const query = readQueryOptions(rawQueryOf(request.raw.url ?? ''));
  if (query.has('apply')) {
    return listGroupedByModel(request, reply, caller, query);
  }
  const options = readListOptions(query);
  const scope = skiptokenScope(caller.tenantId, SET_PATH, query);
  const keyCount = options.orderByScore ? 2 : 1;
  const after =
    options.skiptoken === undefined
      ? undefined
      : decodeSkiptoken(options.skiptoken, scope, keyCount);
  const statements = pageQuery(caller.tenantId, options, after);

  const { rows, count } = await inTenant(caller.tenantId, async (client) => {
    if (options.search !== undefined) {
      await client.query(SEARCH_PLANNER_SETTINGS);
    }
    const total = options.count
      ? (await client.query<{ count: number }>(statements.countSql, statements.countValues)).rows[0]
          .count
      : undefined;
    const page = (await client.query<Row>(statements.pageSql, statements.values)).rows;
    return { rows: page, count: total };
  });

  const hasMore = rows.length > statements.pageSize;
  const page = hasMore ? rows.slice(0, statements.pageSize) : rows;
  const body: Row = { '@odata.context': `${baseUrlOf(request)}/$metadata#${SET_PATH}` };
  if (count !== undefined) {
    body['@odata.count'] = count;
  }
  body.value = page.map(toEntity);
  if (hasMore) {
    const last = page[page.length - 1];
    const keys = options.orderByScore ? [last.endpoint_analytics_score, last.id] : [last.id];
    const skiptoken = encodeSkiptoken(keys, scope);
    body['@odata.nextLink'] =
      `${baseUrlOf(request)}/${SET_PATH}?${nextLinkQuery(query, { skiptoken })}`;
  }
  reply.type(JSON_TYPE);
  return JSON.stringify(body);
}

function parseId(raw: string): string {
  if (!GUID.test(raw)) {
    throw new HttpError(404, 'ResourceNotFound', `No entity has the id '${raw.slice(0, 100)}'.`);
  }
  return raw.toLowerCase();
}

async function get(request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) {
  const caller = await authenticate(request, READ_PERMISSIONS);
  const id = parseId(request.params.id);
  const rows = await inTenant(caller.tenantId, async (client) => {
    return (await client.query<Row>(SELECT_BY_ID, [caller.tenantId, id])).rows;
  });
  if (rows.length === 0) {
    throw new HttpError(404, 'ResourceNotFound', `No entity has the id '${id}'.`);
  }
  return sendEntity(request, reply, rows[0], 200);
}

/** Checks a create or update body and returns the column values it sets. */
function readBody(body: unknown, mode: 'create' | 'update'): Map<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'BadRequest', 'The request body must be a single JSON object.');
  }
  const values = new Map<string, unknown>();
  for (const [name, value] of Object.entries(body as Row)) {
    if (name.startsWith('@odata.')) {
      if (name === '@odata.type' && value !== ODATA_TYPE) {
        throw new HttpError(400, 'BadRequest', `Invalid value for '@odata.type'.`);
      }
      continue;
    }
    const kind = KIND_OF.get(name);
    if (kind === undefined || (kind === 'guid' && mode === 'update')) {
      throw new HttpError(400, 'BadRequest', `The property '${name}' does not exist.`);
    }
    values.set(COLUMN_OF.get(name) ?? name, checkValue(name, kind, value));
  }
  return values;
}

function checkValue(name: string, kind: string, value: unknown): unknown {
  const valid =
    (kind === 'guid' && typeof value === 'string' && GUID.test(value)) ||
    (kind === 'text' &&
      (value === null ||
        (typeof value === 'string' && [...value].length <= 256 && !value.includes('\u0000')))) ||
    (kind === 'score' &&
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (value === -1 || (value >= 0 && value <= 100))) ||
    (kind === 'health' && typeof value === 'string' && HEALTH_NAMES.includes(value));
  if (!valid) {
    throw new HttpError(400, 'BadRequest', `Invalid value for property '${name}'.`);
  }
  return kind === 'health' ? HEALTH_NAMES.indexOf(value as string) : value;
}

async function create(request: FastifyRequest, reply: FastifyReply): Promise<string> {
  const caller = await authenticate(request, WRITE_PERMISSIONS);
  const values = readBody(request.body, 'create');
  const id = typeof values.get('id') === 'string' ? (values.get('id') as string) : randomUUID();
  values.set('id', id.toLowerCase());
  values.set('tenant_id', caller.tenantId);

  const columns = ['tenant_id', 'id', ...WRITABLE_COLUMNS.filter((column) => values.has(column))];
  const parameters = columns.map((column) => values.get(column));
  const placeholders = columns.map((_, index) => `$${index + 1}`);
  const sql =
    `INSERT INTO device_scores (${columns.join(', ')}) VALUES (${placeholders.join(', ')}) ` +
    `ON CONFLICT DO NOTHING RETURNING ${RETURNING_LIST}`;
  const rows = await inTenant(
    caller.tenantId,
    async (client) => (await client.query<Row>(sql, parameters)).rows,
  );
  if (rows.length === 0) {
    throw new HttpError(409, 'Conflict', `An entity with the id '${id}' already exists.`);
  }
  reply.header('Location', `${baseUrlOf(request)}/${SET_PATH}/${id}`);
  return sendEntity(request, reply, rows[0], 201);
}

async function update(
  request: FastifyRequest<{ Params: { id: string } }>,
  reply: FastifyReply,
): Promise<string | undefined> {
  const caller = await authenticate(request, WRITE_PERMISSIONS);
  const id = parseId(request.params.id);
  const values = readBody(request.body, 'update');

  const row = await inTenant(caller.tenantId, async (client) => {
    const current = await client.query<Row>(`${SELECT_BY_ID} FOR UPDATE`, [caller.tenantId, id]);
    if (current.rows.length === 0) {
      throw new HttpError(404, 'ResourceNotFound', `No entity has the id '${id}'.`);
    }
    if (values.size === 0) {
      return current.rows[0];
    }
    const columns = WRITABLE_COLUMNS.filter((column) => values.has(column));
    const parameters = [...columns.map((column) => values.get(column)), caller.tenantId, id];
    const assignments = columns.map((column, index) => `${column} = $${index + 1}`);
    const sql =
      `UPDATE device_scores SET ${assignments.join(', ')}, row_version = row_version + 1, ` +
      `updated_at = now() WHERE tenant_id = $${parameters.length - 1} ` +
      `AND id = $${parameters.length} RETURNING ${RETURNING_LIST}`;
    return (await client.query<Row>(sql, parameters)).rows[0];
  });
  reply.status(204).header('ETag', etagOf(row));
  return undefined;
}

const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });

app.addHook('onRequest', (request, reply, done) => {
  startReply(request, reply);
  done();
});
app.setErrorHandler((error, request, reply) => {
  const known = error instanceof HttpError;
  const statusCode = (error as { statusCode?: unknown }).statusCode;
  let status = 500;
  if (known) {
    status = error.status;
  } else if (typeof statusCode === 'number') {
    status = statusCode;
  }
  const code = known ? error.code : status >= 500 ? 'InternalServerError' : 'BadRequest';
  if (status >= 500) {
    console.error(error);
  }
  const requestId = String(reply.getHeader('request-id'));
  void reply
    .status(status)
    .type('application/json')
    .send({
      error: {
        code,
        message: status >= 500 ? 'An internal error occurred.' : (error as Error).message,
        innerError: {
          date: new Date().toISOString().slice(0, 19),
          'request-id': requestId,
          'client-request-id': String(reply.getHeader('client-request-id')),
        },
      },
    });
});
app.get(COLLECTION_PATH, list);
app.get(MODEL_SCORES_PATH, listModelScores);
app.get(`${COLLECTION_PATH}/:id`, get);
app.post(COLLECTION_PATH, create);
app.patch(`${COLLECTION_PATH}/:id`, update);

const port = Number(environment.PORT ?? 3001);
await app.listen({ host: '127.0.0.1', port });
console.log(`baseline listening on http://127.0.0.1:${port}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void app
      .close()
      .then(() => pool.end())
      .then(() => process.exit(0));
  });
}
