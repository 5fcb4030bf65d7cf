import { createHmac, timingSafeEqual } from 'node:crypto';

import { badRequest, GraphException } from '../http/graph-error.js';
import type { OrderColumn } from './sql-compiler.js';
import { SQL_TYPES, SqlWriter, type SqlFragment } from './sql-fragment.js';

/** First byte of every token, so that a later token format can be distinguished. */
const TOKEN_VERSION = 1;
const MAC_BYTES = 32;
const MIN_SECRET_BYTES = 16;
const MAC_LABEL = 'odata-skiptoken-v1';
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const GUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Encodes the sort-key values of the last row of a page into an opaque `$skiptoken`.
 * `values` has one entry per ORDER BY column, the key last. The token is a version byte, an
 * HMAC-SHA256 over `scope` and the values, and the values as JSON, in base64url without padding.
 * `scope` must name everything the token is valid for: tenant, surface, entity set and query
 * options. decodeSkiptoken accepts the token only with the same secret and scope.
 */
export function encodeSkiptoken(values: unknown[], secret: Buffer, scope: string): string {
  checkSecret(secret);
  const payload = Buffer.from(JSON.stringify(values), 'utf8');
  const mac = computeMac(secret, scope, payload);

  return Buffer.concat([Buffer.of(TOKEN_VERSION), mac, payload]).toString('base64url');
}

/**
 * Decodes a `$skiptoken` made by encodeSkiptoken and returns its values.
 * The MAC is compared in constant time. Each value must fit its ORDER BY column: a string for a
 * string column, a finite number for a double, an integer for an enum and a lower-case GUID for
 * a GUID, or null where the column is nullable. A malformed, changed, foreign or mismatched
 * token is a 400 "Invalid $skiptoken".
 */
export function decodeSkiptoken(
  token: string,
  secret: Buffer,
  scope: string,
  orderBy: readonly OrderColumn[],
): unknown[] {
  checkSecret(secret);
  // Only the canonical base64url form is accepted, so no two strings carry one token.
  if (!BASE64URL.test(token) || token.length % 4 === 1) {
    throw invalidSkiptoken();
  }
  const bytes = Buffer.from(token, 'base64url');
  if (bytes.toString('base64url') !== token || bytes.length <= 1 + MAC_BYTES) {
    throw invalidSkiptoken();
  }
  if (bytes[0] !== TOKEN_VERSION) {
    throw invalidSkiptoken();
  }

  const mac = bytes.subarray(1, 1 + MAC_BYTES);
  const payload = bytes.subarray(1 + MAC_BYTES);
  if (!timingSafeEqual(mac, computeMac(secret, scope, payload))) {
    throw invalidSkiptoken();
  }

  let values: unknown;
  try {
    values = JSON.parse(payload.toString('utf8'));
  } catch {
    throw invalidSkiptoken();
  }
  if (!Array.isArray(values) || values.length !== orderBy.length) {
    throw invalidSkiptoken();
  }
  orderBy.forEach((column, index) => {
    if (!isValidKeyValue(column, values[index])) {
      throw invalidSkiptoken();
    }
  });

  return values;
}

/**
 * Compiles the keyset condition "the row sorts strictly after the row with these values" for
 * the ORDER BY columns, with ASC and DESC mixed and nulls first ascending, last descending.
 *
 * The general form is an OR over each column i of (all columns before i equal AND column i
 * after its value), with null handled explicitly on both sides. When every column is NOT NULL
 * and all directions agree, a row-value comparison `(a, b) > (:x, :y)` is used instead.
 * Otherwise the OR is joined to a bound on the first column where one can be written.
 */
export function compileKeysetCondition(
  orderBy: readonly OrderColumn[],
  values: readonly unknown[],
  alias: string | undefined,
  paramPrefix: string,
): SqlFragment {
  if (values.length !== orderBy.length) {
    throw new Error(`Expected ${orderBy.length} keyset values, got ${values.length}.`);
  }

  const writer = new SqlWriter({ alias, paramPrefix });
  const columns = orderBy.map((column) => writer.column(column.column));
  const params = orderBy.map((column, index) =>
    values[index] === null ? null : writer.param(values[index], SQL_TYPES[column.kind]),
  );

  const direction = orderBy[0]?.direction;
  const simple = orderBy.every(
    (column, index) => column.direction === direction && !column.nullable && params[index] !== null,
  );
  if (simple && orderBy.length > 0) {
    const operator = direction === 'ASC' ? '>' : '<';

    return writer.fragment(`((${columns.join(', ')}) ${operator} (${params.join(', ')}))`);
  }

  const terms: string[] = [];
  for (let index = 0; index < orderBy.length; index += 1) {
    const after = sortsAfter(orderBy[index], columns[index], params[index]);
    if (after === undefined) {
      continue;
    }

    const equalities = orderBy
      .slice(0, index)
      .map((_, before) =>
        params[before] === null
          ? `${columns[before]} IS NULL`
          : `${columns[before]} = ${params[before]}`,
      );
    terms.push(`(${[...equalities, after].join(' AND ')})`);
  }

  if (terms.length === 0) {
    return writer.fragment('FALSE');
  }
  const anyTerm = `(${terms.join(' OR ')})`;
  const bound = leadingBound(orderBy[0], columns[0], params[0]);

  // PostgreSQL cannot turn an OR into index bounds, so without the redundant bound on the first
  // column a deep page would scan the index from its start and filter.
  return writer.fragment(
    terms.length > 1 && bound !== undefined ? `(${bound} AND ${anyTerm})` : anyTerm,
  );
}

/**
 * Returns the bound "column is at or past the value in sort order", which every row after the
 * keyset row satisfies. It is returned only where it is one index condition: for a non-null
 * value, ascending, or descending on a NOT NULL column. Descending puts nulls last, so on a
 * nullable column the bound would need an OR.
 */
function leadingBound(
  order: OrderColumn,
  column: string,
  param: string | null,
): string | undefined {
  if (param === null || (order.direction === 'DESC' && order.nullable)) {
    return undefined;
  }

  return `${column} ${order.direction === 'ASC' ? '>=' : '<='} ${param}`;
}

/** Returns the condition "column sorts after the value", or undefined when nothing does. */
function sortsAfter(order: OrderColumn, column: string, param: string | null): string | undefined {
  if (order.direction === 'ASC') {
    // Nulls come first, so every non-null value sorts after a null.
    return param === null ? `${column} IS NOT NULL` : `${column} > ${param}`;
  }

  // Descending order puts nulls last. Nothing sorts after a null, and a null sorts after any value.
  if (param === null) {
    return undefined;
  }

  return order.nullable ? `(${column} < ${param} OR ${column} IS NULL)` : `${column} < ${param}`;
}

function isValidKeyValue(column: OrderColumn, value: unknown): boolean {
  if (value === null) {
    return column.nullable;
  }

  switch (column.kind) {
    case 'string':
      return typeof value === 'string';
    case 'double':
      return typeof value === 'number' && Number.isFinite(value);
    case 'enum':
      return Number.isInteger(value) && Math.abs(value as number) <= 32767;
    case 'guid':
      return typeof value === 'string' && GUID_TEXT.test(value);
  }
}

function computeMac(secret: Buffer, scope: string, payload: Buffer): Buffer {
  const scopeBytes = Buffer.from(scope, 'utf8');
  const scopeLength = Buffer.alloc(4);
  scopeLength.writeUInt32BE(scopeBytes.length);

  // The length prefix keeps the boundary between scope and payload unambiguous.
  return createHmac('sha256', secret)
    .update(MAC_LABEL)
    .update(scopeLength)
    .update(scopeBytes)
    .update(payload)
    .digest();
}

function checkSecret(secret: Buffer): void {
  if (secret.length < MIN_SECRET_BYTES) {
    throw new Error(`The skiptoken secret must be at least ${MIN_SECRET_BYTES} bytes long.`);
  }
}

function invalidSkiptoken(): GraphException {
  return badRequest(
    'Invalid $skiptoken: it is malformed, was changed, or belongs to another query. ' +
      'Follow @odata.nextLink exactly as returned, or request the first page again.',
  );
}
