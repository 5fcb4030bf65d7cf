import { createHash } from 'node:crypto';

import { badRequest } from '../http/graph-error.js';
import {
  compileApplyFilters,
  planAggregateCount,
  planAggregateQuery,
  planApply,
  type AggregateCountPlan,
  type AggregateQueryPlan,
  type ApplyPlanContext,
  type ApplyQueryOptions,
} from './apply-query.js';
import { bindFilter } from './binder.js';
import type { EntityModel, Surface } from './entity-model.js';
import { checkOptionValue } from './option-error.js';
import { parseOrderBy } from './orderby.js';
import { parseCount, parseSkip, parseTop } from './paging-options.js';
import { parseFilter } from './parser.js';
import {
  serializeQueryOptions,
  splitQueryString,
  SYSTEM_OPTIONS,
  type QueryOptions,
  type SystemOptionName,
} from './query-string.js';
import { parseSearch } from './search-parser.js';
import { parseSelect } from './select.js';
import { compileKeysetCondition, decodeSkiptoken, encodeSkiptoken } from './skiptoken.js';
import { compileFilter, compileOrderBy, compileSearch, type OrderColumn } from './sql-compiler.js';
import type { SqlFragment } from './sql-fragment.js';

export interface ListQueryOptions {
  surface: Surface;
  /** Maximum page size, whatever `$top` requests. */
  maxPageSize: number;
  /** HMAC key of skiptokens, at least 16 bytes. */
  skiptokenSecret: Buffer;
  /**
   * Validity scope of skiptokens, such as tenant id, surface and entity set. The plan adds a
   * digest of the query options, so a token works only for the query that produced it.
   */
  scope: string;
  /** System options the route takes, lower case without `$`, such as `filter` and `top`. */
  accepted: ReadonlySet<string>;
  /** Table alias that qualifies columns in the SQL fragments; unqualified when omitted. */
  alias?: string;
  /** Prefix of the fragments' parameter names, `odata` unless given. */
  paramPrefix?: string;
}

/**
 * How to run one page of a list request. Run it as:
 * WHERE tenant AND filter AND search AND after, ORDER BY orderBy, OFFSET skip, LIMIT pageSize + 1.
 * When more than pageSize rows come back, return pageSize of them and a next link whose query is
 * nextLinkQuery(last returned row).
 */
export interface ListQueryPlan {
  filter?: SqlFragment;
  search?: SqlFragment;
  /** ORDER BY columns. The key is last unless `$orderby` already lists it. */
  orderBy: OrderColumn[];
  /** Canonical names in request order, or undefined for no `$select` or for `*`. */
  select?: readonly string[];
  /** min($top, maxPageSize), the maximum number of items on a page. */
  pageSize: number;
  top?: number;
  /** `$skip`, which a next link never repeats because the skiptoken already moves past it. */
  skip: number;
  count: boolean;
  /** Keyset condition from `$skiptoken`: rows after the last row of the previous page. */
  after?: SqlFragment;
  /**
   * Returns the query string of the next page: the request's options without `$skip`, plus a
   * `$skiptoken` for `lastRow`, which must contain every ORDER BY column (keyed by column name).
   */
  nextLinkQuery(lastRow: Record<string, unknown>): string;
}

export interface EntityQueryOptions {
  surface: Surface;
  accepted: ReadonlySet<string>;
}

export interface EntityQueryPlan {
  /** Canonical names in request order, or undefined for no `$select` or for `*`. */
  select?: readonly string[];
}

export interface CountQueryOptions extends EntityQueryOptions {
  alias?: string;
  paramPrefix?: string;
}

export interface CountQueryPlan {
  filter?: SqlFragment;
  search?: SqlFragment;
}

/** List options of a collection that may also take `$apply`. */
export interface CollectionQueryOptions extends ListQueryOptions {
  /** Settings of `$apply` on the collection, required when `accepted` contains `apply`. */
  apply?: ApplyQueryOptions;
}

/**
 * The plan of a collection request: entities, paged by skiptoken, or the result of an `$apply`
 * that aggregates, paged by offset. An `$apply` of filter transformations only returns
 * entities, with its conditions added to `$filter`.
 */
export type CollectionQueryPlan =
  { kind: 'entities'; plan: ListQueryPlan } | { kind: 'aggregate'; plan: AggregateQueryPlan };

export type CollectionCountPlan =
  { kind: 'entities'; plan: CountQueryPlan } | { kind: 'aggregate'; plan: AggregateCountPlan };

/** Options that a next link repeats and that the skiptoken scope covers. */
const REPEATED_OPTIONS: readonly SystemOptionName[] = SYSTEM_OPTIONS.filter(
  (name) => name !== 'skip' && name !== 'skiptoken',
);

/**
 * Parses, checks and compiles the query options of a collection request.
 * Throws a 400 GraphException for any invalid option, including a bad `$skiptoken`.
 * A collection that takes `$apply` is planned with planCollectionQuery instead.
 */
export function planListQuery(
  rawQuery: string,
  model: EntityModel,
  options: ListQueryOptions,
): ListQueryPlan {
  const query = splitQueryString(rawQuery, options.accepted);
  if (query.apply !== undefined) {
    throw new Error('planListQuery does not run $apply; use planCollectionQuery.');
  }

  return planEntities(query, model, options, []);
}

/**
 * Parses, checks and compiles the query options of a collection request that may contain
 * `$apply`. Throws a 400 GraphException for any invalid option.
 */
export function planCollectionQuery(
  rawQuery: string,
  model: EntityModel,
  options: CollectionQueryOptions,
): CollectionQueryPlan {
  const query = splitQueryString(rawQuery, options.accepted);
  if (query.apply === undefined) {
    return { kind: 'entities', plan: planEntities(query, model, options, []) };
  }

  checkMaxPageSize(options.maxPageSize);
  const context = applyContext(options);
  const planned = planApply(query, rawQuery, model, context);
  if (planned.bound.output === undefined) {
    const conditions = compileApplyFilters(planned, options.alias, context.paramPrefix);

    return { kind: 'entities', plan: planEntities(query, model, options, conditions) };
  }

  return { kind: 'aggregate', plan: planAggregateQuery(query, planned, model, context) };
}

/** Plans a `/$count` request that may contain `$apply`. */
export function planCollectionCount(
  rawQuery: string,
  model: EntityModel,
  options: CountQueryOptions & { apply?: ApplyQueryOptions },
): CollectionCountPlan {
  const query = splitQueryString(rawQuery, options.accepted);
  const paramPrefix = options.paramPrefix ?? 'odata';
  if (query.apply === undefined) {
    const plan = compileConditions(query, model, options.surface, options.alias, paramPrefix);

    return { kind: 'entities', plan };
  }

  const context = applyContext({ ...options, maxPageSize: 1 });
  const planned = planApply(query, rawQuery, model, context);
  if (planned.bound.output === undefined) {
    const plan = compileConditions(query, model, options.surface, options.alias, paramPrefix);
    const conditions = compileApplyFilters(planned, options.alias, paramPrefix);

    return {
      kind: 'entities',
      plan: { ...plan, filter: combineConditions(conditions, plan.filter) },
    };
  }

  return { kind: 'aggregate', plan: planAggregateCount(query, planned, model, context) };
}

function applyContext(
  options: Pick<CollectionQueryOptions, 'surface' | 'maxPageSize' | 'paramPrefix' | 'apply'>,
): ApplyPlanContext {
  if (options.apply === undefined) {
    throw new Error('A collection that accepts $apply needs apply options.');
  }

  return {
    surface: options.surface,
    maxPageSize: options.maxPageSize,
    paramPrefix: options.paramPrefix ?? 'odata',
    apply: options.apply,
  };
}

function checkMaxPageSize(maxPageSize: number): void {
  if (!Number.isInteger(maxPageSize) || maxPageSize < 1) {
    throw new Error(`maxPageSize must be a positive integer, not ${maxPageSize}.`);
  }
}

/** Joins SQL conditions with AND. Their parameter names are distinct by construction. */
function combineConditions(
  conditions: readonly SqlFragment[],
  filter: SqlFragment | undefined,
): SqlFragment | undefined {
  const all = filter === undefined ? [...conditions] : [...conditions, filter];
  if (all.length <= 1) {
    return all[0];
  }

  return {
    sql: `(${all.map((condition) => condition.sql).join(' AND ')})`,
    params: Object.assign({}, ...all.map((condition) => condition.params)) as Record<
      string,
      unknown
    >,
  };
}

/** Plans an entity collection. `extraConditions` come from an `$apply` of filters. */
function planEntities(
  query: QueryOptions,
  model: EntityModel,
  options: ListQueryOptions,
  extraConditions: readonly SqlFragment[],
): ListQueryPlan {
  checkMaxPageSize(options.maxPageSize);
  const alias = options.alias;
  const paramPrefix = options.paramPrefix ?? 'odata';
  const conditions = compileConditions(query, model, options.surface, alias, paramPrefix);
  const filter = combineConditions(extraConditions, conditions.filter);
  const search = conditions.search;
  const orderBy = compileOrderBy(
    query.orderby === undefined
      ? []
      : parseOrderBy(query.orderby.value, model, options.surface, query.orderby.plusOffsets),
    model,
  );
  const select = planSelect(query, model, options.surface);
  const top = query.top === undefined ? undefined : parseTop(query.top.value);
  const skip = query.skip === undefined ? 0 : parseSkip(query.skip.value);
  const count = query.count === undefined ? false : parseCount(query.count.value);

  const scope = `${options.scope}\n${digestOptions(query)}`;
  let after: SqlFragment | undefined;
  if (query.skiptoken !== undefined) {
    if (query.skip !== undefined) {
      throw badRequest(
        'The query options $skip and $skiptoken cannot be combined, because a next link ' +
          'already moves past the skipped items.',
      );
    }
    checkOptionValue('skiptoken', query.skiptoken.value);
    const values = decodeSkiptoken(query.skiptoken.value, options.skiptokenSecret, scope, orderBy);
    after = compileKeysetCondition(orderBy, values, alias, `${paramPrefix}_k`);
  }

  const nextLinkQuery = (lastRow: Record<string, unknown>): string => {
    const values = orderBy.map((column) => keyValue(lastRow, column));
    const repeated: Partial<Record<SystemOptionName, string>> = {};
    for (const name of REPEATED_OPTIONS) {
      repeated[name] = query[name]?.value;
    }
    repeated.skiptoken = encodeSkiptoken(values, options.skiptokenSecret, scope);

    return serializeQueryOptions(repeated);
  };

  return {
    filter,
    search,
    orderBy,
    select,
    pageSize: Math.min(top ?? options.maxPageSize, options.maxPageSize),
    top,
    skip,
    count,
    after,
    nextLinkQuery,
  };
}

/** Parses the query options of a single-entity GET, which takes only `$select`. */
export function planEntityQuery(
  rawQuery: string,
  model: EntityModel,
  options: EntityQueryOptions,
): EntityQueryPlan {
  const query = splitQueryString(rawQuery, options.accepted);

  return { select: planSelect(query, model, options.surface) };
}

/** Parses and compiles the options of a `/$count` request, which takes `$filter` and `$search`. */
export function planCountQuery(
  rawQuery: string,
  model: EntityModel,
  options: CountQueryOptions,
): CountQueryPlan {
  const query = splitQueryString(rawQuery, options.accepted);

  return compileConditions(
    query,
    model,
    options.surface,
    options.alias,
    options.paramPrefix ?? 'odata',
  );
}

function compileConditions(
  query: QueryOptions,
  model: EntityModel,
  surface: Surface,
  alias: string | undefined,
  paramPrefix: string,
): CountQueryPlan {
  let filter: SqlFragment | undefined;
  if (query.filter !== undefined) {
    const { value, plusOffsets } = query.filter;
    const bound = bindFilter(parseFilter(value, plusOffsets), model, surface, value);
    filter = compileFilter(bound, { alias, paramPrefix: `${paramPrefix}_f` });
  }

  let search: SqlFragment | undefined;
  if (query.search !== undefined) {
    const node = parseSearch(query.search.value, query.search.plusOffsets);
    search = compileSearch(node, model, surface, { alias, paramPrefix: `${paramPrefix}_s` });
  }

  return { filter, search };
}

function planSelect(
  query: QueryOptions,
  model: EntityModel,
  surface: Surface,
): readonly string[] | undefined {
  if (query.select === undefined) {
    return undefined;
  }

  return parseSelect(query.select.value, model, surface, query.select.plusOffsets);
}

/**
 * Hashes the options that a next link repeats, so a skiptoken stops working when any of them
 * changes. Values are compared as decoded, after the option names are made canonical.
 */
function digestOptions(query: QueryOptions): string {
  const entries = REPEATED_OPTIONS.map((name) => [name, query[name]?.value ?? null]);

  return createHash('sha256').update(JSON.stringify(entries)).digest('base64url');
}

function keyValue(row: Record<string, unknown>, column: OrderColumn): unknown {
  if (!Object.hasOwn(row, column.column)) {
    throw new Error(`The row has no '${column.column}' column, which the next link needs.`);
  }

  const value = row[column.column];
  if (column.kind === 'guid' && typeof value === 'string') {
    return value.toLowerCase();
  }

  return value;
}
