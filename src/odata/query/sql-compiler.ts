import { badRequest } from '../http/graph-error.js';
import type { BoundExpression, ValueType } from './bound-expression.js';
import type { EntityModel, PropertyKind, Surface } from './entity-model.js';
import type { FilterFunction } from './filter-ast.js';
import type { SearchNode } from './search-parser.js';
import { SQL_TYPES, SqlWriter, type SqlFragment, type SqlTarget } from './sql-fragment.js';

/** One column of the ORDER BY clause that a list query must use. */
export interface OrderColumn {
  /** Canonical property name. */
  property: string;
  column: string;
  kind: PropertyKind;
  nullable: boolean;
  direction: 'ASC' | 'DESC';
  /**
   * Placement of nulls. In a nullable column they sort first ascending and last descending, as
   * if null were the smallest value. A column that cannot be null gets PostgreSQL's default for
   * the direction (last ascending, first descending), which changes no result but lets the
   * ORDER BY match a plain b-tree index instead of sorting every row of the tenant.
   */
  nulls: 'FIRST' | 'LAST';
}

/** A property named in `$orderby`, with its direction. */
export interface OrderByItem {
  property: string;
  direction: 'ASC' | 'DESC';
}

/** Compiled SQL of an expression and whether it can evaluate to NULL. */
interface Compiled {
  sql: string;
  mayBeNull: boolean;
}

const COMPARISON_SQL = { eq: '=', ne: '<>', gt: '>', ge: '>=', lt: '<', le: '<=' } as const;

/**
 * The code points with the Unicode White_Space property, which `trim` removes as .NET's
 * String.Trim does: tab to carriage return, space, U+0085, no-break space and the Unicode space
 * and separator characters.
 */
const UNICODE_WHITESPACE =
  '\t\n\u000b\f\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007' +
  '\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000';

/** Lengths and offsets are clamped to this before a cast to integer, so the cast cannot fail. */
const MAX_INTEGER = 2147483647;

/**
 * Compiles a bound `$filter` to a SQL condition over the target's columns.
 *
 * OData semantics are kept under SQL's three-valued logic. `eq null` and `ne null` become
 * IS [NOT] NULL. Any other comparison with null is false, which SQL gets right in a WHERE clause
 * because NULL rows are dropped. A boolean that may be NULL is wrapped in COALESCE(..., FALSE)
 * where its value matters: under NOT and as an operand of a comparison. `eq` between two
 * nullable values is IS NOT DISTINCT FROM, and `ne` with a nullable side is IS DISTINCT FROM, so
 * `deviceName ne 'x'` and `not (deviceName eq 'x')` both match a null deviceName.
 */
export function compileFilter(expression: BoundExpression, target: SqlTarget): SqlFragment {
  const writer = new SqlWriter(target);
  const compiled = new FilterCompiler(writer).compile(expression);

  return writer.fragment(compiled.sql);
}

class FilterCompiler {
  constructor(private readonly writer: SqlWriter) {}

  compile(expression: BoundExpression): Compiled {
    switch (expression.kind) {
      case 'constant':
        return this.constant(expression.type, expression.value);
      case 'property':
        return {
          sql: this.writer.column(expression.property.column),
          mayBeNull: expression.property.nullable,
        };
      case 'nullCheck': {
        const operand = this.value(expression.operand);
        const test = expression.negated ? 'IS NOT NULL' : 'IS NULL';

        return { sql: `(${operand.sql} ${test})`, mayBeNull: false };
      }
      case 'comparison':
        return this.comparison(
          expression.operator,
          this.value(expression.left),
          this.value(expression.right),
        );
      case 'in':
        return this.in(expression.operand, expression.items);
      case 'logical': {
        const operands = expression.operands.map((operand) => this.compile(operand));
        const joiner = expression.operator === 'and' ? ' AND ' : ' OR ';

        return {
          sql: `(${operands.map((operand) => operand.sql).join(joiner)})`,
          mayBeNull: operands.some((operand) => operand.mayBeNull),
        };
      }
      case 'not':
        return { sql: `(NOT ${this.value(expression.operand).sql})`, mayBeNull: false };
      case 'arithmetic':
        return this.arithmetic(
          expression.operator,
          this.compile(expression.left),
          this.compile(expression.right),
        );
      case 'negate': {
        const operand = this.compile(expression.operand);

        return { sql: `(- ${operand.sql})`, mayBeNull: operand.mayBeNull };
      }
      case 'call':
        return this.call(
          expression.name,
          expression.args.map((arg) => this.compile(arg)),
        );
    }
  }

  /** Compiles an operand whose value matters. A boolean that may be NULL counts as FALSE there. */
  private value(expression: BoundExpression): Compiled {
    const compiled = this.compile(expression);
    if (expression.type === 'boolean' && compiled.mayBeNull) {
      return { sql: `COALESCE(${compiled.sql}, FALSE)`, mayBeNull: false };
    }

    return compiled;
  }

  private constant(type: ValueType, value: string | number | boolean | null): Compiled {
    if (value === null) {
      return { sql: `CAST(NULL AS ${SQL_TYPES[type]})`, mayBeNull: true };
    }
    if (typeof value === 'boolean') {
      return { sql: value ? 'TRUE' : 'FALSE', mayBeNull: false };
    }

    return { sql: this.writer.param(value, SQL_TYPES[type]), mayBeNull: false };
  }

  private comparison(
    operator: keyof typeof COMPARISON_SQL,
    left: Compiled,
    right: Compiled,
  ): Compiled {
    if (operator === 'eq' && left.mayBeNull && right.mayBeNull) {
      return { sql: `(${left.sql} IS NOT DISTINCT FROM ${right.sql})`, mayBeNull: false };
    }
    if (operator === 'ne' && (left.mayBeNull || right.mayBeNull)) {
      return { sql: `(${left.sql} IS DISTINCT FROM ${right.sql})`, mayBeNull: false };
    }

    return {
      sql: `(${left.sql} ${COMPARISON_SQL[operator]} ${right.sql})`,
      mayBeNull: left.mayBeNull || right.mayBeNull,
    };
  }

  /**
   * Compiles `x in (...)` as `x eq item` for each item, OR-ed together. Constant items share one
   * array parameter, so a long list costs one parameter and `= ANY` can use an index.
   */
  private in(operandExpression: BoundExpression, items: BoundExpression[]): Compiled {
    const operand = this.value(operandExpression);
    const sqlType = SQL_TYPES[operandExpression.type];
    const constants = items.flatMap((item) =>
      item.kind === 'constant' && item.value !== null ? [item.value] : [],
    );
    const parts: Compiled[] = [];

    if (constants.length === 1) {
      parts.push(
        this.comparison('eq', operand, this.constant(operandExpression.type, constants[0])),
      );
    } else if (constants.length > 1) {
      const array = this.writer.param(constants, `${sqlType}[]`);
      parts.push({ sql: `(${operand.sql} = ANY(${array}))`, mayBeNull: operand.mayBeNull });
    }
    if (items.some((item) => item.kind === 'constant' && item.value === null)) {
      parts.push({ sql: `(${operand.sql} IS NULL)`, mayBeNull: false });
    }
    for (const item of items) {
      if (item.kind !== 'constant') {
        parts.push(this.comparison('eq', operand, this.value(item)));
      }
    }

    return {
      sql: parts.length === 1 ? parts[0].sql : `(${parts.map((part) => part.sql).join(' OR ')})`,
      mayBeNull: parts.some((part) => part.mayBeNull),
    };
  }

  /**
   * Compiles arithmetic on doubles. Division and modulo by zero give NULL through NULLIF instead
   * of an error, so the comparison around them is false. Modulo goes through numeric, because
   * PostgreSQL has no double precision modulo. Its result takes the sign of the dividend.
   * Each operand reaches numeric through its text form, the shortest decimal that reads back as
   * the same double, because a direct cast keeps only 15 significant digits and would make
   * `7.333333333333333 mod 100` return 7.33333333333333.
   * NOTE: the text form is that shortest decimal only while extra_float_digits is at least 1,
   * the PostgreSQL default. With 0 or less, modulo falls back to 15 significant digits.
   * NOTE: a double precision overflow (`1e308 mul 10`) still raises SQLSTATE 22003, which the
   * caller must report as a 400.
   */
  private arithmetic(
    operator: 'add' | 'sub' | 'mul' | 'div' | 'mod',
    left: Compiled,
    right: Compiled,
  ): Compiled {
    const mayBeNull = left.mayBeNull || right.mayBeNull;
    switch (operator) {
      case 'add':
        return { sql: `(${left.sql} + ${right.sql})`, mayBeNull };
      case 'sub':
        return { sql: `(${left.sql} - ${right.sql})`, mayBeNull };
      case 'mul':
        return { sql: `(${left.sql} * ${right.sql})`, mayBeNull };
      case 'div':
        return { sql: `(${left.sql} / NULLIF(${right.sql}, 0))`, mayBeNull: true };
      case 'mod': {
        const dividend = `CAST(CAST(${left.sql} AS text) AS numeric)`;
        const divisor = `NULLIF(CAST(CAST(${right.sql} AS text) AS numeric), 0)`;

        return { sql: `CAST(mod(${dividend}, ${divisor}) AS double precision)`, mayBeNull: true };
      }
    }
  }

  /**
   * Compiles a string function. Matching functions use strpos and starts_with, never LIKE, so
   * `%`, `_` and `\` in the argument are plain characters. Offsets are 0-based as in OData.
   */
  private call(name: FilterFunction, args: Compiled[]): Compiled {
    const mayBeNull = args.some((arg) => arg.mayBeNull);
    const [first, second] = args.map((arg) => arg.sql);
    switch (name) {
      case 'contains':
        return { sql: `(strpos(${first}, ${second}) > 0)`, mayBeNull };
      case 'startswith':
        return { sql: `starts_with(${first}, ${second})`, mayBeNull };
      case 'endswith':
        return { sql: `starts_with(reverse(${first}), reverse(${second}))`, mayBeNull };
      case 'tolower':
        return { sql: `lower(${first})`, mayBeNull };
      case 'toupper':
        return { sql: `upper(${first})`, mayBeNull };
      case 'trim': {
        // btrim with one argument removes only spaces.
        const whitespace = this.writer.param(UNICODE_WHITESPACE, 'text');

        return { sql: `btrim(${first}, ${whitespace})`, mayBeNull };
      }
      case 'length':
        return { sql: `CAST(char_length(${first}) AS double precision)`, mayBeNull };
      case 'indexof':
        return { sql: `CAST(strpos(${first}, ${second}) - 1 AS double precision)`, mayBeNull };
      case 'concat':
        return { sql: `(${first} || ${second})`, mayBeNull };
      case 'substring': {
        // substr counts from 1; a negative start counts as 0, a negative length as 0.
        const start = `${clampToInteger(args[1], MAX_INTEGER - 1)} + 1`;
        const sql =
          args[2] === undefined
            ? `substr(${first}, ${start})`
            : `substr(${first}, ${start}, ${clampToInteger(args[2], MAX_INTEGER)})`;

        return { sql, mayBeNull };
      }
    }
  }
}

/**
 * Truncates a double to an integer in [0, max], with NaN as max, so the cast never raises.
 * A NULL stays NULL, so `substring(deviceName, length(model))` is null when model is null.
 * GREATEST and LEAST skip NULL arguments, so a value that may be NULL goes through
 * float8larger and float8smaller instead, the functions behind PostgreSQL's max and min of
 * double precision. They return NULL for a NULL argument and also order NaN above every number.
 * A CASE with `x IS NULL` would repeat x, so nested substring calls would grow the SQL
 * exponentially.
 */
function clampToInteger(value: Compiled, max: number): string {
  const whole = `trunc(${value.sql})`;
  if (!value.mayBeNull) {
    return `CAST(LEAST(GREATEST(${whole}, 0), ${max}) AS integer)`;
  }

  return `CAST(float8smaller(float8larger(${whole}, 0), ${max}) AS integer)`;
}

/**
 * Compiles `$search` to a case-insensitive substring match over the model's searchable string
 * properties: a term matches a row when any of them contains it. The term is a parameter of
 * ILIKE with `%`, `_` and `\` escaped, so it never acts as a wildcard.
 */
export function compileSearch(
  search: SearchNode,
  model: EntityModel,
  surface: Surface,
  target: SqlTarget,
): SqlFragment {
  const columns = model.properties
    .filter(
      (property) =>
        property.searchable === true &&
        property.kind === 'string' &&
        property.surfaces.includes(surface),
    )
    .map((property) => property.column);
  if (columns.length === 0) {
    throw badRequest(`$search is not supported on ${model.entitySet}.`);
  }

  const writer = new SqlWriter(target);
  const references = columns.map((column) => writer.column(column));
  const compile = (node: SearchNode): Compiled => {
    switch (node.kind) {
      case 'term': {
        const pattern = writer.param(`%${escapeLikePattern(node.text)}%`, 'text');
        const matches = references.map((column) => `${column} ILIKE ${pattern} ESCAPE '\\'`);

        return { sql: `(${matches.join(' OR ')})`, mayBeNull: true };
      }
      case 'and':
      case 'or': {
        const operands = node.operands.map(compile);
        const joiner = node.kind === 'and' ? ' AND ' : ' OR ';

        return {
          sql: `(${operands.map((operand) => operand.sql).join(joiner)})`,
          mayBeNull: operands.some((operand) => operand.mayBeNull),
        };
      }
      case 'not': {
        const operand = compile(node.operand);
        const sql = operand.mayBeNull ? `COALESCE(${operand.sql}, FALSE)` : operand.sql;

        return { sql: `(NOT ${sql})`, mayBeNull: false };
      }
    }
  };

  return writer.fragment(compile(search).sql);
}

/** Escapes the LIKE wildcards `%` and `_` and the escape character `\`. */
export function escapeLikePattern(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}

/**
 * Returns the ORDER BY columns for the requested items, followed by the key ascending as a
 * hidden tie-breaker unless the request already sorts by the key.
 */
export function compileOrderBy(items: readonly OrderByItem[], model: EntityModel): OrderColumn[] {
  const columns = items.map((item) => orderColumn(model, item.property, item.direction));
  if (!items.some((item) => item.property === model.key)) {
    columns.push(orderColumn(model, model.key, 'ASC'));
  }

  return columns;
}

function orderColumn(model: EntityModel, name: string, direction: 'ASC' | 'DESC'): OrderColumn {
  const property = model.properties.find((candidate) => candidate.name === name);
  if (property === undefined) {
    throw new Error(`The model ${model.typeName} has no property '${name}'.`);
  }

  return {
    property: property.name,
    column: property.column,
    kind: property.kind,
    nullable: property.nullable,
    direction,
    nulls: nullsPlacement(direction, property.nullable),
  };
}

function nullsPlacement(direction: 'ASC' | 'DESC', nullable: boolean): 'FIRST' | 'LAST' {
  if (nullable) {
    return direction === 'ASC' ? 'FIRST' : 'LAST';
  }

  // PostgreSQL's default, which plain b-tree indexes serve in either scan direction.
  return direction === 'ASC' ? 'LAST' : 'FIRST';
}
