/**
 * Parts every baseline route uses: the settings, the token check, the tenant transaction and the
 * error type that the error handler turns into a Graph error body.
 */
import { readFileSync } from 'node:fs';

import type { FastifyRequest } from 'fastify';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import pg from 'pg';

export const JSON_TYPE =
  'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';
export const READ_PERMISSIONS = new Set(
  [
    'DeviceManagementManagedDevices.Read.All',
    'DeviceManagementManagedDevices.ReadWrite.All',
    'DeviceManagementConfiguration.Read.All',
    'DeviceManagementConfiguration.ReadWrite.All',
  ].map((name) => name.toLowerCase()),
);
export const WRITE_PERMISSIONS = new Set(
  [
    'DeviceManagementManagedDevices.ReadWrite.All',
    'DeviceManagementConfiguration.ReadWrite.All',
  ].map((name) => name.toLowerCase()),
);
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384'];
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const MAX_PAGE_SIZE = 1000;
export const HEALTH_NAMES = ['unknown', 'insufficientData', 'needsAttention', 'meetingGoals'];

/** Converts a column value to its JSON value: enum names for health, numbers for scores. */
export function wireValue(kind: string, value: unknown): unknown {
  if (kind === 'health') {
    return HEALTH_NAMES[Number(value)] ?? 'unknownFutureValue';
  }
  if (kind === 'score' || kind === 'number') {
    return Number(value);
  }

  return value ?? null;
}

const SET_TENANT = `SELECT set_config('role', $1, true), set_config('eas.tenant_id', $2, true)`;

export type Row = Record<string, unknown>;

export interface Caller {
  tenantId: string;
  permissions: Set<string>;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const environment = process.env;
const audience = environment.AUTH_AUDIENCE ?? 'api://endpoint-analytics';
const jwks = JSON.parse(readFileSync(required('AUTH_JWKS_FILE'), 'utf8')) as JSONWebKeySet;
const keySet = createLocalJWKSet(jwks);
export const skiptokenSecret = Buffer.from(required('SKIPTOKEN_SECRET'), 'utf8');
export const pool = new pg.Pool({
  connectionString: required('DATABASE_URL'),
  max: Number(environment.POOL_SIZE ?? 10),
  application_name: 'eas-bench-baseline',
});

function required(name: string): string {
  const value = environment[name];
  if (value === undefined || value === '') {
    throw new Error(`The environment variable ${name} is required.`);
  }
  return value;
}

/** Verifies the bearer token as the service does: signature, exp, nbf, aud, iss and tid. */
export async function authenticate(
  request: FastifyRequest,
  accepted: Set<string>,
): Promise<Caller> {
  const header = request.headers.authorization ?? '';
  const parts = header.trim().split(/\s+/);
  if (parts.length !== 2 || parts[0].toLowerCase() !== 'bearer') {
    throw new HttpError(401, 'InvalidAuthenticationToken', 'A bearer token is required.');
  }

  let claims;
  try {
    ({ payload: claims } = await jwtVerify(parts[1], keySet, {
      algorithms: ALGORITHMS,
      audience,
      clockTolerance: 300,
      requiredClaims: ['exp', 'iss', 'tid'],
    }));
  } catch {
    throw new HttpError(401, 'InvalidAuthenticationToken', 'The access token is invalid.');
  }

  const tenantId = typeof claims.tid === 'string' ? claims.tid.toLowerCase() : '';
  const issuers = [
    `https://login.microsoftonline.com/${tenantId}/v2.0`,
    `https://sts.windows.net/${tenantId}/`,
  ];
  if (!GUID.test(tenantId) || !issuers.includes(String(claims.iss).toLowerCase())) {
    throw new HttpError(401, 'InvalidAuthenticationToken', 'The tenant or issuer is invalid.');
  }

  const scopes = typeof claims.scp === 'string' ? claims.scp.split(/\s+/) : [];
  const roles = Array.isArray(claims.roles) ? (claims.roles as string[]) : [];
  const permissions = new Set([...scopes, ...roles].map((name) => name.toLowerCase()));
  if (![...permissions].some((name) => accepted.has(name))) {
    throw new HttpError(403, 'Forbidden', 'The token has no accepted permission.');
  }
  return { tenantId, permissions };
}

/** Runs `work` in a transaction as eas_request for the tenant, so row-level security applies. */
export async function inTenant<T>(
  tenantId: string,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('START TRANSACTION');
    await client.query(SET_TENANT, ['eas_request', tenantId]);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export function baseUrlOf(request: FastifyRequest): string {
  return `http://${request.headers.host ?? '127.0.0.1'}/beta`;
}
