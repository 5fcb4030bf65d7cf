import { badRequest } from '../http/graph-error.js';
import {
  bindApply,
  checkSetProperties,
  entityModelOfSet,
  type ApplyProperty,
  type BoundApply,
} from './apply-binder.js';
import { compileApply, type ApplySource } from './apply-compiler.js';
import { parseApply } from './apply-parser.js';
import { bindFilter } from './binder.js';
import type { EntityModel, Surface } from './entity-model.js';
import { invalidOption } from './option-error.js';
import { parseOrderBy } from './orderby.js';
import { parseCount, parseSkip, parseTop } from './paging-options.js';
import { parseFilter } from './parser.js';
import {
  findCustomOption,
  serializeQueryOptions,
  SYSTEM_OPTIONS,
  type QueryOptions,
  type SystemOptionName,
} from './query-string.js';
import { parseSearch } from './search-parser.js';
import { parseSelect } from './select.js';
import { compileFilter, compileSearch, type OrderColumn } from './sql-compiler.js';
import type { SqlFragment } from './sql-fragment.js';

/** Alias of the `$apply` result in the SQL that filters, sorts and pages it. */
export const APPLY_RESULT_ALIAS = 'apply_result';

/** Settings of `$apply` on one collection. */
export interface ApplyQueryOptions {
  /** Properties whose `value` means "not available", such as -1 for every score. */
  unavailable?: { value: number; properties: readonly string[] };
  /**
   * Custom query option (no `$`) that keeps the unavailable values in sum, min, max and
   * average when set to true, such as `includeUnavailableScores`.
   */
  includeUnavailableOption?: string;
}

/** Collection settings that `$apply` planning reads. */
export interface ApplyPlanContext {
  surface: Surface;
  maxPageSize: number;
  paramPrefix: string;
  apply: ApplyQueryOptions;
}

/** A parsed and bound `$apply` with the setting of the unavailable-values option. */
export interface PlannedApply {
  bound: BoundApply;
  /** True when the request asked to keep unavailable values in the aggregates. */
  includeUnavailable: boolean;
}

/**
 * How to run one page of an aggregated collection request. Run it as:
 * SELECT * FROM (relation(source)) apply_result WHERE filter AND search ORDER BY orderBy
 * OFFSET skip LIMIT pageSize + 1. When more than pageSize rows come back, return pageSize of
 * them and a next link with the query nextLinkQuery().
 */
export interface AggregateQueryPlan {
  /** The result's properties in wire order, each with its column in the relation. */
  properties: readonly ApplyProperty[];
  /** The SELECT that computes the `$apply` result from the collection's rows. */
  relation(source: ApplySource): SqlFragment;
  filter?: SqlFragment;
  search?: SqlFragment;
  /**
   * ORDER BY columns over APPLY_RESULT_ALIAS: the `$orderby` items, then the grouping
   * properties, which tell result rows apart, so offset paging never repeats or skips a row of
   * an unchanged result.
   */
  orderBy: OrderColumn[];
  /** Names of the properties to send, in request order, or undefined for all of them. */
  select?: readonly string[];
  /** The select list of the context URL: the selected or else all result properties. */
  contextSelect: readonly string[];
  pageSize: number;
  top?: number;
  skip: number;
  count: boolean;
  /**
   * Returns the query string of the next page: the same options with `$skip` moved past this
   * page. Aggregated results page by offset, not by skiptoken.
   * NOTE: a group that appears or disappears between two pages shifts the offsets, so a walk
   * over a changing result can repeat or miss a row.
   */
  nextLinkQuery(): string;
}

/** The plan of a `/$count` request whose `$apply` aggregates. */
export interface AggregateCountPlan {
  relation(source: ApplySource): SqlFragment;
  filter?: SqlFragment;
  search?: SqlFragment;
}

/**
 * Parses and binds `$apply` and reads the custom option that keeps unavailable values.
 * Throws a 400 GraphException for an invalid value of either.
 */
export function planApply(
  query: QueryOptions,
  rawQuery: string,
  model: EntityModel,
  context: ApplyPlanContext,
): PlannedApply {
  const option = query.apply;
  if (option === undefined) {
    throw new Error('planApply needs a request with $apply.');
  }

  const includeUnavailable = readIncludeUnavailable(rawQuery, context.apply);
  const transformations = parseApply(option.value, option.plusOffsets);
  const bound = bindApply(transformations, model, option.value, {
    surface: context.surface,
    unavailable: context.apply.unavailable,
    includeUnavailable,
  });

  return { bound, includeUnavailable };
}

/** Compiles the filter transformations of an `$apply` that does not aggregate. */
export function compileApplyFilters(
  planned: PlannedApply,
  alias: string | undefined,
  paramPrefix: string,
): SqlFragment[] {
  return planned.bound.stages.map((stage, index) => {
    if (stage.kind !== 'filter') {
      throw new Error('compileApplyFilters needs an $apply without aggregation.');
    }

    return compileFilter(stage.condition, { alias, paramPrefix: `${paramPrefix}_a${index}` });
  });
}

/**
 * Plans a collection request whose `$apply` aggregates. `$filter`, `$search`, `$orderby`,
 * `$select`, `$top`, `$skip` and `$count` then work on the aggregated result, where the
 * grouping properties and the aliases are its properties. `$skiptoken` is rejected, because
 * aggregated results page with `$skip`.
 */
export function planAggregateQuery(
  query: QueryOptions,
  planned: PlannedApply,
  model: EntityModel,
  context: ApplyPlanContext,
): AggregateQueryPlan {
  const { bound } = planned;
  const properties = bound.output as ApplyProperty[];
  if (query.skiptoken !== undefined) {
    throw badRequest(
      'The query option $skiptoken cannot be combined with $apply: ' +
        'aggregated results page with $skip.',
    );
  }

  const resultModel = entityModelOfSet(model, properties, context.surface);
  const { filter, search } = compileResultConditions(query, properties, resultModel, context);
  const orderBy = planOrderBy(query, bound, resultModel, context.surface);
  const select =
    query.select === undefined
      ? undefined
      : parseSelect(query.select.value, resultModel, context.surface, query.select.plusOffsets);
  const top = query.top === undefined ? undefined : parseTop(query.top.value);
  const skip = query.skip === undefined ? 0 : parseSkip(query.skip.value);
  const count = query.count === undefined ? false : parseCount(query.count.value);
  const pageSize = Math.min(top ?? context.maxPageSize, context.maxPageSize);
  const relation = (source: ApplySource) => compileApply(bound, source, `${context.paramPrefix}_a`);

  const nextLinkQuery = (): string => {
    const values: Partial<Record<SystemOptionName, string>> = {};
    for (const name of SYSTEM_OPTIONS) {
      values[name] = query[name]?.value;
    }
    values.skip = String(skip + pageSize);
    const custom =
      planned.includeUnavailable && context.apply.includeUnavailableOption !== undefined
        ? `&${context.apply.includeUnavailableOption}=true`
        : '';

    return `${serializeQueryOptions(values)}${custom}`;
  };

  return {
    properties,
    relation,
    filter,
    search,
    orderBy,
    select,
    contextSelect: select ?? properties.map((property) => property.name),
    pageSize,
    top,
    skip,
    count,
    nextLinkQuery,
  };
}

/** Plans a `/$count` request with `$apply`: the number of result rows that match. */
export function planAggregateCount(
  query: QueryOptions,
  planned: PlannedApply,
  model: EntityModel,
  context: ApplyPlanContext,
): AggregateCountPlan {
  const properties = planned.bound.output as ApplyProperty[];
  const resultModel = entityModelOfSet(model, properties, context.surface);

  return {
    relation: (source) => compileApply(planned.bound, source, `${context.paramPrefix}_a`),
    ...compileResultConditions(query, properties, resultModel, context),
  };
}

/**
 * Maps a result row to its wire form: the selected properties in result order. Numbers stay
 * JSON numbers, enum values become member names, and Edm.Decimal values (`$count` and
 * countdistinct) carry their type as control information unless the metadata level is none.
 */
export function toAggregateEntity(
  row: Record<string, unknown>,
  plan: Pick<AggregateQueryPlan, 'properties' | 'select'>,
  metadata: 'none' | 'minimal' | 'full',
): Record<string, unknown> {
  const selected = plan.select === undefined ? undefined : new Set(plan.select);
  const entity: Record<string, unknown> = {};
  for (const property of plan.properties) {
    if (selected !== undefined && !selected.has(property.name)) {
      continue;
    }
    if (property.decimal && metadata !== 'none') {
      entity[`${property.name}@odata.type`] = '#Decimal';
    }
    entity[property.name] = wireValue(property, row[property.column]);
  }

  return entity;
}

function wireValue(property: ApplyProperty, value: unknown): unknown {
  if (value === null || value === undefined) {
    return null;
  }
  switch (property.kind) {
    case 'double':
      return Number(value);
    case 'enum': {
      const member = property.enum?.members.find((candidate) => candidate.value === Number(value));
      return member?.name ?? 'unknownFutureValue';
    }
    case 'guid':
      return typeof value === 'string' ? value.toLowerCase() : value;
    case 'string':
      return value;
  }
}

function compileResultConditions(
  query: QueryOptions,
  properties: readonly ApplyProperty[],
  resultModel: EntityModel,
  context: ApplyPlanContext,
): { filter?: SqlFragment; search?: SqlFragment } {
  const target = (suffix: string) => ({
    alias: APPLY_RESULT_ALIAS,
    paramPrefix: `${context.paramPrefix}_${suffix}`,
  });

  let filter: SqlFragment | undefined;
  if (query.filter !== undefined) {
    const { value, plusOffsets } = query.filter;
    const ast = parseFilter(value, plusOffsets);
    checkSetProperties(ast, properties, (position, detail) =>
      invalidOption('filter', position, detail, plusOffsets),
    );
    const bound = bindFilter(ast, resultModel, context.surface, value);
    filter = compileFilter(bound, target('f'));
  }

  let search: SqlFragment | undefined;
  if (query.search !== undefined) {
    const node = parseSearch(query.search.value, query.search.plusOffsets);
    if (!properties.some((property) => property.searchable)) {
      throw badRequest(
        '$search after $apply needs a searchable property in the result: group by ' +
          `${searchableNames(resultModel)}, or search in a filter transformation instead.`,
      );
    }
    search = compileSearch(node, resultModel, context.surface, target('s'));
  }

  return { filter, search };
}

function searchableNames(model: EntityModel): string {
  return model.properties
    .filter((property) => property.searchable === true)
    .map((property) => property.name)
    .join(', ');
}

function planOrderBy(
  query: QueryOptions,
  bound: BoundApply,
  resultModel: EntityModel,
  surface: Surface,
): OrderColumn[] {
  const items =
    query.orderby === undefined
      ? []
      : parseOrderBy(query.orderby.value, resultModel, surface, query.orderby.plusOffsets);
  const properties = bound.output as ApplyProperty[];
  const columns = items.map((item) =>
    orderColumn(
      properties.find((property) => property.name === item.property) as ApplyProperty,
      item.direction,
    ),
  );
  for (const key of bound.keys) {
    if (!items.some((item) => item.property === key.name)) {
      columns.push(orderColumn(key, 'ASC'));
    }
  }

  return columns;
}

/** Nulls sort as the smallest value, as in every `$orderby` of the service. */
function orderColumn(property: ApplyProperty, direction: 'ASC' | 'DESC'): OrderColumn {
  const nullsFirst = property.nullable ? direction === 'ASC' : direction === 'DESC';

  return {
    property: property.name,
    column: property.column,
    kind: property.kind,
    nullable: property.nullable,
    direction,
    nulls: nullsFirst ? 'FIRST' : 'LAST',
  };
}

/** Reads the custom option that keeps unavailable values: true or false in any case. */
function readIncludeUnavailable(rawQuery: string, options: ApplyQueryOptions): boolean {
  const name = options.includeUnavailableOption;
  if (name === undefined) {
    return false;
  }

  const value = findCustomOption(rawQuery, name);
  if (value === undefined) {
    return false;
  }
  const lower = value.toLowerCase();
  if (lower !== 'true' && lower !== 'false') {
    throw badRequest(`Invalid ${name}: expected true or false, but found '${value.slice(0, 40)}'.`);
  }

  return lower === 'true';
}
