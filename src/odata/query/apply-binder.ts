import type { GraphException } from '../http/graph-error.js';
import {
  asApplyError,
  type AggregateExpression,
  type AggregationMethod,
  type ApplyName,
  type MethodAggregate,
  type Transformation,
} from './apply-parser.js';
import { bindFilter } from './binder.js';
import type { BoundExpression } from './bound-expression.js';
import {
  propertyTypeName,
  qualifiedTypeName,
  type EntityModel,
  type EnumModel,
  type PropertyKind,
  type PropertyModel,
  type Surface,
} from './entity-model.js';
import { type FilterNode, operandsOf } from './filter-ast.js';
import { invalidOption } from './option-error.js';

/** One property of an input or output set of a transformation. */
export interface ApplyProperty {
  /** Wire name: the canonical name of a declared property, or an alias. */
  name: string;
  /** SQL column in its set: the model column in the first set, `c0`, `c1`, ... after that. */
  column: string;
  kind: PropertyKind;
  nullable: boolean;
  enum?: EnumModel;
  /** Whether `$search` matches this property, as declared in the entity model. */
  searchable: boolean;
  /** Whether the values are Edm.Decimal with scale 0, as `$count` and countdistinct return. */
  decimal: boolean;
  /** A value that means "not available", left out of sum, min, max and average by default. */
  unavailableValue?: number;
}

/** One aggregate of an aggregation, after its names and types are checked. */
export interface BoundAggregate {
  method: AggregationMethod | 'count';
  /** The aggregated property of the input set; absent for `$count`. */
  input?: ApplyProperty;
  /** The value left out of the aggregate, such as -1 for an unavailable score. */
  excludedValue?: number;
  output: ApplyProperty;
}

/** A filter transformation over the current set. */
export interface BoundFilterStage {
  kind: 'filter';
  condition: BoundExpression;
}

/**
 * A groupby or aggregate transformation: one output row per distinct combination of the
 * grouping properties, or exactly one row when there are none.
 */
export interface BoundAggregationStage {
  kind: 'aggregation';
  groupBy: ApplyProperty[];
  aggregates: BoundAggregate[];
  /** Grouping properties, then aliases, with their columns in the output set. */
  output: ApplyProperty[];
}

export type BoundStage = BoundFilterStage | BoundAggregationStage;

export interface BoundApply {
  stages: BoundStage[];
  /** The properties of the result, or undefined when no stage aggregates (entities remain). */
  output?: ApplyProperty[];
  /**
   * Output properties that tell result rows apart: the grouping properties of the last
   * aggregation, or none when it returned one row.
   */
  keys: ApplyProperty[];
}

export interface ApplyBindOptions {
  surface: Surface;
  /** Properties whose `value` means "not available", such as -1 for a score. */
  unavailable?: { value: number; properties: readonly string[] };
  /** Whether sum, min, max and average keep the unavailable value in their input. */
  includeUnavailable: boolean;
}

const NUMERIC_METHODS: ReadonlySet<string> = new Set(['sum', 'average']);
const EXCLUDING_METHODS: ReadonlySet<string> = new Set(['sum', 'min', 'max', 'average']);
const MAX_ALIAS_LENGTH = 128;

/**
 * Checks a parsed `$apply` against the entity model: property names (case-insensitive, among
 * the properties of the surface and of the current set), aggregation methods against property
 * types, and aliases. Returns the stages with the properties of every set.
 *
 * Aliases must be new names: different from every property of the entity type, from the
 * properties of the current set, and from each other. Throws a 400 GraphException naming the
 * position otherwise.
 */
export function bindApply(
  transformations: readonly Transformation[],
  model: EntityModel,
  text: string,
  options: ApplyBindOptions,
): BoundApply {
  return new ApplyBinder(model, text, options).bind(transformations);
}

/**
 * Returns an entity model whose properties are those of a set produced by `$apply`, so the
 * `$filter`, `$orderby`, `$select` and `$search` parsers can work on it.
 */
export function entityModelOfSet(
  model: EntityModel,
  properties: readonly ApplyProperty[],
  surface: Surface,
): EntityModel {
  return {
    namespace: model.namespace,
    typeName: model.typeName,
    entitySet: model.entitySet,
    key: model.key,
    properties: properties.map((property): PropertyModel => ({
      name: property.name,
      column: property.column,
      kind: property.kind,
      nullable: property.nullable,
      enum: property.enum,
      surfaces: [surface],
      searchable: property.searchable,
    })),
  };
}

/**
 * Checks that every property a filter names exists in a set produced by `$apply`, so the
 * message can state that it was aggregated away instead of calling it unknown.
 */
export function checkSetProperties(
  condition: FilterNode,
  properties: readonly ApplyProperty[],
  fail: (position: number, detail: string) => GraphException,
): void {
  const pending: FilterNode[] = [condition];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    if (node.kind === 'property') {
      const lower = node.name.toLowerCase();
      if (!properties.some((property) => property.name.toLowerCase() === lower)) {
        throw fail(
          node.start,
          `'${node.name}' is not a property of the aggregated result, which has ` +
            `${listNames(properties)}.`,
        );
      }
    }
    pending.push(...operandsOf(node));
  }
}

/** Lists property names for a message, such as "manufacturer, model and deviceCount". */
export function listNames(properties: readonly ApplyProperty[]): string {
  const names = properties.map((property) => property.name);
  if (names.length === 0) {
    return 'no properties';
  }
  if (names.length === 1) {
    return `the property ${names[0]}`;
  }

  return `the properties ${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

class ApplyBinder {
  private readonly stages: BoundStage[] = [];
  private current: ApplyProperty[];
  private aggregated = false;
  private keys: ApplyProperty[] = [];

  constructor(
    private readonly model: EntityModel,
    private readonly text: string,
    private readonly options: ApplyBindOptions,
  ) {
    const unavailable = new Set(options.unavailable?.properties ?? []);
    this.current = model.properties
      .filter((property) => property.surfaces.includes(options.surface))
      .map((property) => ({
        name: property.name,
        column: property.column,
        kind: property.kind,
        nullable: property.nullable,
        enum: property.enum,
        searchable: property.searchable === true,
        decimal: false,
        unavailableValue: unavailable.has(property.name) ? options.unavailable?.value : undefined,
      }));
  }

  bind(transformations: readonly Transformation[]): BoundApply {
    for (const transformation of transformations) {
      switch (transformation.kind) {
        case 'identity':
          break;
        case 'filter':
          this.stages.push({
            kind: 'filter',
            condition: this.bindCondition(transformation.condition),
          });
          break;
        case 'aggregate':
          this.addAggregation([], transformation.expressions);
          break;
        case 'groupby':
          this.addAggregation(
            transformation.properties,
            transformation.aggregate?.expressions ?? [],
          );
          break;
      }
    }

    return {
      stages: this.stages,
      output: this.aggregated ? this.current : undefined,
      keys: this.keys,
    };
  }

  private bindCondition(condition: FilterNode): BoundExpression {
    if (this.aggregated) {
      checkSetProperties(condition, this.current, (position, detail) =>
        this.error(position, detail),
      );
    }
    const model = this.aggregated
      ? entityModelOfSet(this.model, this.current, this.options.surface)
      : this.model;
    try {
      return bindFilter(condition, model, this.options.surface, this.text);
    } catch (error) {
      throw asApplyError(error);
    }
  }

  private addAggregation(
    groupNames: readonly ApplyName[],
    expressions: readonly AggregateExpression[],
  ): void {
    const groupBy: ApplyProperty[] = [];
    for (const name of groupNames) {
      const property = this.findInCurrent(name);
      if (groupBy.includes(property)) {
        throw this.error(name.start, `'${property.name}' is listed more than once.`);
      }
      groupBy.push(property);
    }

    const output: ApplyProperty[] = groupBy.map((property, index) => ({
      ...property,
      column: `c${index}`,
    }));
    const aggregates: BoundAggregate[] = [];
    for (const expression of expressions) {
      this.checkAlias(expression.alias, output);
      const column = `c${output.length}`;
      const aggregate =
        expression.kind === 'count'
          ? this.countAggregate(expression.alias.name, column)
          : this.methodAggregate(expression, column);
      aggregates.push(aggregate);
      output.push(aggregate.output);
    }

    this.stages.push({ kind: 'aggregation', groupBy, aggregates, output });
    this.current = output;
    this.keys = output.slice(0, groupBy.length);
    this.aggregated = true;
  }

  private countAggregate(alias: string, column: string): BoundAggregate {
    return {
      method: 'count',
      output: {
        name: alias,
        column,
        kind: 'double',
        nullable: false,
        searchable: false,
        decimal: true,
      },
    };
  }

  private methodAggregate(expression: MethodAggregate, column: string): BoundAggregate {
    const input = this.findInCurrent(expression.property);
    const { method } = expression;
    if (NUMERIC_METHODS.has(method) && input.kind !== 'double') {
      throw this.error(
        expression.property.start,
        `${method} applies only to numeric properties, but '${input.name}' is ` +
          `${this.typeName(input)}.`,
      );
    }

    const excludedValue =
      EXCLUDING_METHODS.has(method) && !this.options.includeUnavailable
        ? input.unavailableValue
        : undefined;
    const output: ApplyProperty =
      method === 'countdistinct'
        ? {
            name: expression.alias.name,
            column,
            kind: 'double',
            nullable: false,
            searchable: false,
            decimal: true,
          }
        : {
            name: expression.alias.name,
            column,
            kind: NUMERIC_METHODS.has(method) ? 'double' : input.kind,
            nullable: true,
            enum: NUMERIC_METHODS.has(method) ? undefined : input.enum,
            searchable: false,
            decimal: false,
          };

    return { method, input, excludedValue, output };
  }

  private findInCurrent(name: ApplyName): ApplyProperty {
    const lower = name.name.toLowerCase();
    const property = this.current.find((candidate) => candidate.name.toLowerCase() === lower);
    if (property !== undefined) {
      return property;
    }

    if (this.aggregated) {
      throw this.error(
        name.start,
        `'${name.name}' is not a property of the aggregated set, which has ` +
          `${listNames(this.current)}.`,
      );
    }
    const elsewhere = this.model.properties.some(
      (candidate) => candidate.name.toLowerCase() === lower,
    );
    throw this.error(
      name.start,
      elsewhere
        ? `'${name.name}' is not available in the ${this.options.surface} API.`
        : `'${name.name}' is not a property of ${qualifiedTypeName(this.model)}.`,
    );
  }

  /** Rejects an alias that is not a new, plain name. */
  private checkAlias(alias: ApplyName, output: readonly ApplyProperty[]): void {
    const lower = alias.name.toLowerCase();
    if (alias.name.length > MAX_ALIAS_LENGTH) {
      throw this.error(
        alias.start,
        `the alias '${alias.name.slice(0, 40)}...' is longer than ${MAX_ALIAS_LENGTH} characters.`,
      );
    }
    const declared = this.model.properties.find(
      (property) => property.name.toLowerCase() === lower,
    );
    if (declared !== undefined) {
      throw this.error(
        alias.start,
        `the alias '${alias.name}' is the name of a property of ${qualifiedTypeName(this.model)}; ` +
          'choose another name.',
      );
    }
    const existing = [...this.current, ...output].find(
      (property) => property.name.toLowerCase() === lower,
    );
    if (existing !== undefined) {
      throw this.error(
        alias.start,
        `the alias '${alias.name}' is already the name of a property of the set; ` +
          'choose another name.',
      );
    }
  }

  private typeName(property: ApplyProperty): string {
    if (property.decimal) {
      return 'Edm.Decimal';
    }
    const model = entityModelOfSet(this.model, [property], this.options.surface);

    return propertyTypeName(model, model.properties[0]);
  }

  private error(position: number, detail: string): GraphException {
    return invalidOption('apply', position, detail);
  }
}
