import type { PropertyKind } from './entity-model.js';

/**
 * A SQL condition with TypeORM named parameters (`:name`), for `QueryBuilder.where(sql, params)`.
 * Its text comes only from the model and the compiler: every value from the request is a
 * parameter.
 */
export interface SqlFragment {
  sql: string;
  params: Record<string, unknown>;
}

/** Table alias and parameter name prefix for compiled SQL. */
export interface SqlTarget {
  /** Table alias that qualifies every column, such as `ds`. Without it, columns are unqualified. */
  alias?: string;
  /**
   * Prefix of parameter names: parameters are named `${paramPrefix}_0`, `${paramPrefix}_1`,
   * and so on, so fragments compiled with different prefixes never share a name.
   */
  paramPrefix: string;
}

/** SQL type of each property kind, used in every CAST of a parameter. */
export const SQL_TYPES: Readonly<Record<PropertyKind | 'boolean', string>> = {
  guid: 'uuid',
  string: 'text',
  double: 'double precision',
  enum: 'smallint',
  boolean: 'boolean',
};

const SQL_IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
const PARAMETER_PREFIX = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Collects the parameters of one fragment and writes column references and casts. */
export class SqlWriter {
  readonly params: Record<string, unknown> = {};
  private count = 0;

  constructor(private readonly target: SqlTarget) {
    if (target.alias !== undefined && !SQL_IDENTIFIER.test(target.alias)) {
      throw new Error(`The table alias '${target.alias}' must be a lower-case SQL identifier.`);
    }
    if (!PARAMETER_PREFIX.test(target.paramPrefix)) {
      throw new Error(`The parameter prefix '${target.paramPrefix}' must be a plain identifier.`);
    }
  }

  /** Returns the column qualified with the alias. Column names come from the model only. */
  column(name: string): string {
    if (!SQL_IDENTIFIER.test(name)) {
      throw new Error(`The column name '${name}' must be a lower-case SQL identifier.`);
    }

    return this.target.alias === undefined ? name : `${this.target.alias}.${name}`;
  }

  /** Adds a parameter and returns `CAST(:name AS sqlType)`. */
  param(value: unknown, sqlType: string): string {
    const name = `${this.target.paramPrefix}_${this.count}`;
    this.count += 1;
    this.params[name] = value;

    return `CAST(:${name} AS ${sqlType})`;
  }

  fragment(sql: string): SqlFragment {
    return { sql, params: this.params };
  }
}
