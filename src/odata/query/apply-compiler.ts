import type { ApplyProperty, BoundAggregate, BoundApply } from './apply-binder.js';
import { compileFilter } from './sql-compiler.js';
import { SQL_TYPES, SqlWriter, type SqlFragment } from './sql-fragment.js';

/** The rows `$apply` starts from: a FROM item, its alias, and a condition every row must meet. */
export interface ApplySource {
  /** A table and alias, such as `device_scores ds`. Comes from code, never from the request. */
  from: string;
  alias: string;
  /** A condition on every source row, such as the tenant's. Its parameter names must differ from the plan's. */
  condition?: SqlFragment;
}

/**
 * Compiles the stages of a bound `$apply` into one SELECT whose columns are the output
 * properties, named by their `column` (`c0`, `c1`, ...).
 *
 * Filters before the first aggregation become WHERE conditions on the source, so its indexes
 * apply. Each aggregation is a GROUP BY (none for aggregate without groupby, which returns one
 * row), and every later stage reads the previous one as a subquery. Values from the request are
 * parameters named `${paramPrefix}_...`.
 */
export function compileApply(
  bound: BoundApply,
  source: ApplySource,
  paramPrefix: string,
): SqlFragment {
  if (bound.output === undefined) {
    throw new Error('compileApply needs an $apply that aggregates.');
  }

  const params: Record<string, unknown> = { ...(source.condition?.params ?? {}) };
  let from = source.from;
  let alias = source.alias;
  let conditions = source.condition === undefined ? [] : [`(${source.condition.sql})`];
  let select: string | undefined;

  bound.stages.forEach((stage, index) => {
    const prefix = `${paramPrefix}_${index}`;
    if (stage.kind === 'filter') {
      const fragment = compileFilter(stage.condition, { alias, paramPrefix: prefix });
      Object.assign(params, fragment.params);
      conditions.push(fragment.sql);
      select = undefined;

      return;
    }

    const writer = new SqlWriter({ alias, paramPrefix: prefix });
    const items = [
      ...stage.groupBy.map(
        (property, position) =>
          `${writer.column(property.column)} AS ${stage.output[position].column}`,
      ),
      ...stage.aggregates.map(
        (aggregate) => `${aggregateSql(aggregate, writer)} AS ${aggregate.output.column}`,
      ),
    ];
    Object.assign(params, writer.params);
    const where = conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
    const groupBy =
      stage.groupBy.length === 0
        ? ''
        : ` GROUP BY ${stage.groupBy.map((property) => writer.column(property.column)).join(', ')}`;

    select = `SELECT ${items.join(', ')} FROM ${from}${where}${groupBy}`;
    alias = `apply_${index}`;
    from = `(${select}) ${alias}`;
    conditions = [];
  });

  if (select !== undefined) {
    return { sql: select, params };
  }

  const columns = bound.output.map((property) => `${alias}.${property.column}`);
  return {
    sql: `SELECT ${columns.join(', ')} FROM ${from} WHERE ${conditions.join(' AND ')}`,
    params,
  };
}

/**
 * Returns the SQL of one aggregate. `$count` and countdistinct are cast to double precision, so
 * they compare with number literals like every other number. An excluded value (an unavailable
 * score) is left out with FILTER, so a group whose values are all excluded gets NULL, as the
 * extension defines for an aggregate of no values.
 */
function aggregateSql(aggregate: BoundAggregate, writer: SqlWriter): string {
  if (aggregate.method === 'count') {
    return 'CAST(count(*) AS double precision)';
  }

  const input = aggregate.input as ApplyProperty;
  const column = writer.column(input.column);
  let sql: string;
  switch (aggregate.method) {
    case 'sum':
      sql = `sum(${column})`;
      break;
    case 'average':
      sql = `avg(${column})`;
      break;
    case 'min':
      sql = `min(${column})`;
      break;
    case 'max':
      sql = `max(${column})`;
      break;
    case 'countdistinct':
      return `CAST(count(DISTINCT ${column}) AS double precision)`;
  }

  if (aggregate.excludedValue === undefined) {
    return sql;
  }
  const excluded = writer.param(aggregate.excludedValue, SQL_TYPES[input.kind]);

  return `${sql} FILTER (WHERE ${column} <> ${excluded})`;
}
