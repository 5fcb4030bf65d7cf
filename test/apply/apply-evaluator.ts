import type { ScoreRow } from '../odata-conformance/plan-database.js';
import {
  compareCodePoints,
  evaluateCondition,
  HEALTH_MEMBERS,
  renderFilter,
  SCORE_COLUMNS_BY_PROPERTY,
  type Condition,
  type ScoreProperty,
} from '../odata-conformance/reference-evaluator.js';

// An in-memory model of `$apply` on device scores, written independently of the engine: a typed
// transformation sequence that the differential tests generate, render as `$apply` text and
// evaluate over rows.
//
// Rules it follows, from the OData Data Aggregation extension: groupby makes one row per
// distinct combination of its properties (null is a value of its own), aggregate without
// groupby makes exactly one row, aggregates ignore nulls and return null when no value is
// left (except $count and countdistinct, which count), and a later stage reads only the
// grouping properties and aliases of the stage before it. From the service: a score of -1 is
// left out of sum, min, max and average unless unavailable scores are included.

export type GroupProperty = 'manufacturer' | 'model' | 'healthStatus';

/** The type of a property of an aggregated row, which decides comparison and order. */
export type ValueKind = 'number' | 'string' | 'health';

/** A property of an aggregated set: its name, type, and whether it may be null. */
export interface SetProperty {
  name: string;
  kind: ValueKind;
  nullable: boolean;
  /** Whether its values are exact (counts, minimums, keys) rather than rounded sums. */
  exact: boolean;
}

/** One aggregate over the rows of the entity set. */
export type RowAggregate =
  | { method: 'count' }
  | { method: 'countdistinct'; property: GroupProperty | ScoreProperty }
  | { method: 'sum' | 'average' | 'min' | 'max'; property: ScoreProperty }
  | { method: 'min' | 'max'; property: GroupProperty };

/** One aggregate over an aggregated set, which names the set's properties. */
export type SetAggregate =
  | { method: 'count' }
  | { method: 'sum' | 'average' | 'min' | 'max' | 'countdistinct'; property: string };

/** A condition over an aggregated set. */
export type SetCondition =
  | { kind: 'compareNumber'; property: string; operator: Operator; value: number }
  | { kind: 'compareString'; property: string; operator: 'eq' | 'ne'; value: string }
  | { kind: 'nullCheck'; property: string; negated: boolean }
  | { kind: 'logical'; operator: 'and' | 'or'; left: SetCondition; right: SetCondition }
  | { kind: 'not'; operand: SetCondition };

export type Operator = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';

/** A transformation sequence of the shape the generator makes. */
export interface ApplyTree {
  /** Filters over the entity rows, before any aggregation. */
  rowFilters: Condition[];
  /** The first aggregation: groupby when `keys` is not empty, else aggregate. */
  keys: GroupProperty[];
  aggregates: RowAggregate[];
  /** A filter transformation over the first aggregated set. */
  setFilter?: SetCondition;
  /** A second groupby over the first aggregated set. */
  regroup?: { keys: GroupProperty[]; aggregates: SetAggregate[] };
  includeUnavailable: boolean;
}

export type AggregatedRow = Record<string, number | string | null>;

const HEALTH_BY_VALUE = HEALTH_MEMBERS;

const GROUP_COLUMNS: Readonly<Record<GroupProperty, keyof ScoreRow>> = {
  manufacturer: 'manufacturer',
  model: 'model',
  healthStatus: 'health_status',
};

/** Alias of the aggregate at `index`: a0, a1, ... in the first stage, b0, b1, ... in the second. */
export function aliasOf(stage: 'first' | 'second', index: number): string {
  return `${stage === 'first' ? 'a' : 'b'}${index}`;
}

/** Renders the tree as the decoded text of `$apply`. */
export function renderApply(tree: ApplyTree): string {
  const parts = tree.rowFilters.map((condition) => `filter(${renderFilter(condition)})`);
  parts.push(renderAggregation(tree.keys, tree.aggregates.map(renderRowAggregate), 'first'));
  if (tree.setFilter !== undefined) {
    parts.push(`filter(${renderSetCondition(tree.setFilter)})`);
  }
  if (tree.regroup !== undefined) {
    parts.push(
      renderAggregation(
        tree.regroup.keys,
        tree.regroup.aggregates.map(renderSetAggregate),
        'second',
      ),
    );
  }

  return parts.join('/');
}

function renderAggregation(
  keys: readonly string[],
  aggregates: readonly string[],
  stage: 'first' | 'second',
): string {
  const items = aggregates.map((aggregate, index) => `${aggregate} as ${aliasOf(stage, index)}`);
  if (keys.length === 0) {
    return `aggregate(${items.join(',')})`;
  }
  const list = `(${keys.join(',')})`;

  return items.length === 0 ? `groupby(${list})` : `groupby(${list},aggregate(${items.join(',')}))`;
}

function renderRowAggregate(aggregate: RowAggregate): string {
  return aggregate.method === 'count' ? '$count' : `${aggregate.property} with ${aggregate.method}`;
}

function renderSetAggregate(aggregate: SetAggregate): string {
  return aggregate.method === 'count' ? '$count' : `${aggregate.property} with ${aggregate.method}`;
}

/** Renders a set condition as `$filter` text, with parentheses around every operation. */
export function renderSetCondition(condition: SetCondition): string {
  switch (condition.kind) {
    case 'compareNumber':
      return `${condition.property} ${condition.operator} ${condition.value}`;
    case 'compareString':
      return `${condition.property} ${condition.operator} '${condition.value.replaceAll("'", "''")}'`;
    case 'nullCheck':
      return `${condition.property} ${condition.negated ? 'ne' : 'eq'} null`;
    case 'logical':
      return `(${renderSetCondition(condition.left)}) ${condition.operator} (${renderSetCondition(condition.right)})`;
    case 'not':
      return `not (${renderSetCondition(condition.operand)})`;
  }
}

/** Returns the properties of the first aggregated set. */
export function firstSetProperties(tree: ApplyTree): SetProperty[] {
  const keys = tree.keys.map((key) => keyProperty(key));
  const aggregates = tree.aggregates.map((aggregate, index): SetProperty => {
    const name = aliasOf('first', index);
    switch (aggregate.method) {
      case 'count':
      case 'countdistinct':
        return { name, kind: 'number', nullable: false, exact: true };
      case 'sum':
      case 'average':
        return { name, kind: 'number', nullable: true, exact: false };
      case 'min':
      case 'max':
        return { name, kind: kindOf(aggregate.property), nullable: true, exact: true };
    }
  });

  return [...keys, ...aggregates];
}

/** Returns the properties of the result: the second set when there is one, else the first. */
export function resultProperties(tree: ApplyTree): SetProperty[] {
  const first = firstSetProperties(tree);
  if (tree.regroup === undefined) {
    return first;
  }

  const keys = tree.regroup.keys.map((key) => keyProperty(key));
  const aggregates = tree.regroup.aggregates.map((aggregate, index): SetProperty => {
    const name = aliasOf('second', index);
    if (aggregate.method === 'count' || aggregate.method === 'countdistinct') {
      return { name, kind: 'number', nullable: false, exact: true };
    }
    const input = first.find((property) => property.name === aggregate.property) as SetProperty;
    const exact = input.exact && (aggregate.method === 'min' || aggregate.method === 'max');

    return { name, kind: input.kind, nullable: true, exact };
  });

  return [...keys, ...aggregates];
}

/** Returns the names of the properties that tell result rows apart. */
export function resultKeys(tree: ApplyTree): string[] {
  return [...(tree.regroup?.keys ?? tree.keys)];
}

function keyProperty(key: GroupProperty): SetProperty {
  return {
    name: key,
    kind: kindOf(key),
    nullable: key !== 'healthStatus',
    exact: true,
  };
}

function kindOf(property: GroupProperty | ScoreProperty): ValueKind {
  if (property === 'healthStatus') {
    return 'health';
  }

  return property === 'manufacturer' || property === 'model' ? 'string' : 'number';
}

/** Evaluates the tree over the rows of one tenant and returns the result rows, unordered. */
export function evaluateApply(tree: ApplyTree, rows: readonly ScoreRow[]): AggregatedRow[] {
  const matching = rows.filter((row) =>
    tree.rowFilters.every((condition) => evaluateCondition(condition, row)),
  );
  const groups = groupRows(matching, tree.keys.length === 0, (row) =>
    tree.keys.map((key) => rowValue(row, key)),
  );
  let result = groups.map(({ key, members }) => {
    const output: AggregatedRow = {};
    tree.keys.forEach((name, index) => {
      output[name] = key[index];
    });
    tree.aggregates.forEach((aggregate, index) => {
      output[aliasOf('first', index)] = aggregateRows(aggregate, members, tree.includeUnavailable);
    });

    return output;
  });

  const setFilter = tree.setFilter;
  if (setFilter !== undefined) {
    result = result.filter((row) => evaluateSetCondition(setFilter, row));
  }

  const regroup = tree.regroup;
  if (regroup === undefined) {
    return result;
  }
  const first = firstSetProperties(tree);

  return groupRows(result, regroup.keys.length === 0, (row) =>
    regroup.keys.map((key) => row[key]),
  ).map(({ key, members }) => {
    const output: AggregatedRow = {};
    regroup.keys.forEach((name, index) => {
      output[name] = key[index];
    });
    regroup.aggregates.forEach((aggregate, index) => {
      output[aliasOf('second', index)] = aggregateSet(aggregate, members, first);
    });

    return output;
  });
}

/** Groups items by key; with `single`, all items form one group even when there are none. */
function groupRows<T>(
  items: readonly T[],
  single: boolean,
  keyOf: (item: T) => (number | string | null)[],
): { key: (number | string | null)[]; members: T[] }[] {
  if (single) {
    return [{ key: [], members: [...items] }];
  }

  const groups = new Map<string, { key: (number | string | null)[]; members: T[] }>();
  for (const item of items) {
    const key = keyOf(item);
    const text = JSON.stringify(key);
    const group = groups.get(text);
    if (group === undefined) {
      groups.set(text, { key, members: [item] });
    } else {
      group.members.push(item);
    }
  }

  return [...groups.values()];
}

/** Returns a row's value in wire form: health status as its member name. */
function rowValue(row: ScoreRow, property: GroupProperty | ScoreProperty): number | string | null {
  if (property === 'healthStatus') {
    return HEALTH_BY_VALUE[row.health_status];
  }
  if (property === 'manufacturer' || property === 'model') {
    return row[GROUP_COLUMNS[property]];
  }

  return row[SCORE_COLUMNS_BY_PROPERTY[property]];
}

function aggregateRows(
  aggregate: RowAggregate,
  rows: readonly ScoreRow[],
  includeUnavailable: boolean,
): number | string | null {
  if (aggregate.method === 'count') {
    return rows.length;
  }

  let values = rows
    .map((row) => rowValue(row, aggregate.property))
    .filter((value) => value !== null);
  const isScore = kindOf(aggregate.property) === 'number';
  if (aggregate.method === 'countdistinct') {
    return new Set(values).size;
  }
  if (isScore && !includeUnavailable) {
    values = values.filter((value) => value !== -1);
  }

  return reduce(aggregate.method, values, kindOf(aggregate.property));
}

function aggregateSet(
  aggregate: SetAggregate,
  rows: readonly AggregatedRow[],
  properties: readonly SetProperty[],
): number | string | null {
  if (aggregate.method === 'count') {
    return rows.length;
  }

  const values = rows.map((row) => row[aggregate.property]).filter((value) => value !== null);
  if (aggregate.method === 'countdistinct') {
    return new Set(values).size;
  }
  const input = properties.find((property) => property.name === aggregate.property) as SetProperty;

  return reduce(aggregate.method, values, input.kind);
}

function reduce(
  method: 'sum' | 'average' | 'min' | 'max',
  values: readonly (number | string | null)[],
  kind: ValueKind,
): number | string | null {
  if (values.length === 0) {
    return null;
  }
  if (method === 'sum' || method === 'average') {
    const sum = (values as number[]).reduce((total, value) => total + value, 0);

    return method === 'sum' ? sum : sum / values.length;
  }

  const sorted = [...values].sort((left, right) => compareValues(left, right, kind));

  return method === 'min' ? sorted[0] : sorted[sorted.length - 1];
}

/** Compares two non-null values of one kind: numbers, strings by code point, health by value. */
export function compareValues(
  left: number | string | null,
  right: number | string | null,
  kind: ValueKind,
): number {
  switch (kind) {
    case 'number':
      return (left as number) - (right as number);
    case 'string':
      return compareCodePoints(left as string, right as string);
    case 'health':
      return HEALTH_BY_VALUE.indexOf(left as string) - HEALTH_BY_VALUE.indexOf(right as string);
  }
}

/**
 * Evaluates a set condition with the service's null rules: a comparison with null is false
 * except `ne`, which is true when one side is null, and `not` turns false into true.
 */
export function evaluateSetCondition(condition: SetCondition, row: AggregatedRow): boolean {
  switch (condition.kind) {
    case 'compareNumber': {
      const value = row[condition.property] as number | null;
      if (value === null) {
        return condition.operator === 'ne';
      }

      return compareNumbers(condition.operator, value, condition.value);
    }
    case 'compareString': {
      const value = row[condition.property] as string | null;
      const equal = value === condition.value;

      return condition.operator === 'eq' ? equal : !equal;
    }
    case 'nullCheck':
      return (row[condition.property] === null) !== condition.negated;
    case 'logical':
      return condition.operator === 'and'
        ? evaluateSetCondition(condition.left, row) && evaluateSetCondition(condition.right, row)
        : evaluateSetCondition(condition.left, row) || evaluateSetCondition(condition.right, row);
    case 'not':
      return !evaluateSetCondition(condition.operand, row);
  }
}

function compareNumbers(operator: Operator, left: number, right: number): boolean {
  switch (operator) {
    case 'eq':
      return left === right;
    case 'ne':
      return left !== right;
    case 'gt':
      return left > right;
    case 'ge':
      return left >= right;
    case 'lt':
      return left < right;
    case 'le':
      return left <= right;
  }
}

/** One `$orderby` item over a result property. */
export interface ResultSortKey {
  property: SetProperty;
  direction: 'asc' | 'desc';
}

/**
 * Sorts result rows as the service does: by each key with nulls first ascending and last
 * descending, then by the grouping properties ascending.
 */
export function sortResult(
  rows: readonly AggregatedRow[],
  keys: readonly ResultSortKey[],
  groupKeys: readonly SetProperty[],
): AggregatedRow[] {
  const all = [
    ...keys,
    ...groupKeys
      .filter((key) => !keys.some((item) => item.property.name === key.name))
      .map((property): ResultSortKey => ({ property, direction: 'asc' })),
  ];

  return [...rows].sort((a, b) => {
    for (const { property, direction } of all) {
      const left = a[property.name];
      const right = b[property.name];
      let difference: number;
      if (left === null && right === null) {
        difference = 0;
      } else if (left === null) {
        difference = -1;
      } else if (right === null) {
        difference = 1;
      } else {
        difference = compareValues(left, right, property.kind);
      }
      if (difference !== 0) {
        return direction === 'asc' ? difference : -difference;
      }
    }

    return 0;
  });
}
