import type { AppConfig } from '../../config/app-config.js';
import type { Statement, TenantDatabase, TenantQueries } from '../../database/tenant-database.js';
import { type GraphException, notFound } from '../http/graph-error.js';
import { CollectionResult, CountResult, type WireEntity } from '../http/odata-result.js';
import type { GraphRequestContext } from '../http/request-context.js';
import {
  APPLY_RESULT_ALIAS,
  type AggregateCountPlan,
  type AggregateQueryPlan,
  type ApplyQueryOptions,
  toAggregateEntity,
} from '../query/apply-query.js';
import type { EntityModel, Surface } from '../query/entity-model.js';
import {
  type EntityQueryPlan,
  type ListQueryPlan,
  planCollectionCount,
  planCollectionQuery,
  planEntityQuery,
} from '../query/list-query.js';
import { PositionalParameters } from '../query/positional-parameters.js';
import { SYSTEM_OPTIONS } from '../query/query-string.js';

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/**
 * Every system option but `$expand`, because the entity sets read here have no navigation
 * properties.
 */
const LIST_OPTIONS: ReadonlySet<string> = new Set(
  SYSTEM_OPTIONS.filter((name) => name !== 'expand'),
);
const COUNT_OPTIONS = new Set(['filter', 'search', 'apply']);

/** System options that a get by id takes. */
export const ENTITY_OPTIONS: ReadonlySet<string> = new Set(['select', 'format']);

/** A row as PostgreSQL returns it, keyed by column name. */
export type EntityRow = Record<string, unknown>;

/** The table or view behind one entity set, and how its rows become entities. */
export interface EntitySetSource {
  model: EntityModel;
  /** Path of the collection under each surface's base URL. */
  setPath: string;
  /** Table or view of the rows, which has a `tenant_id` column. */
  table: string;
  /** Alias of the table in every statement and in the compiled query fragments. */
  alias: string;
  /** SELECT list of an entity, with every column that the mapper and keyset paging read. */
  selectList: string;
  apply: ApplyQueryOptions;
  /** Returns the function that maps the rows of one page to wire entities of a surface. */
  mapper(surface: Surface, select?: readonly string[]): (row: EntityRow) => WireEntity;
  /** Statement that runs ahead of a list page with `$search`, such as planner settings. */
  searchSettings?: Statement;
}

/**
 * The read path of an entity set: list, `/$count` and the pieces of a get by id. Every
 * statement runs in the caller's tenant transaction and also names the tenant in its WHERE
 * clause. The statements are SQL text with positional parameters, because building them with
 * TypeORM's query builder on every request cost more CPU than running them.
 */
export abstract class EntitySetReader {
  /** SELECT of one entity by tenant ($1) and id ($2). */
  protected readonly selectByIdSql: string;

  protected constructor(
    protected readonly database: TenantDatabase,
    private readonly config: AppConfig,
    private readonly source: EntitySetSource,
  ) {
    this.selectByIdSql =
      `SELECT ${source.selectList} FROM ${source.table} ${source.alias} ` +
      `WHERE ${source.alias}.tenant_id = $1 AND ${source.alias}.id = $2`;
  }

  async list(tenantId: string, context: GraphRequestContext): Promise<CollectionResult> {
    const { model, setPath, alias, apply, searchSettings } = this.source;
    const collection = planCollectionQuery(context.rawQuery, model, {
      surface: context.surface,
      maxPageSize: this.config.maxPageSize,
      skiptokenSecret: this.config.skiptokenSecret,
      scope: `${tenantId}|${context.surface}|${setPath}`,
      accepted: LIST_OPTIONS,
      alias,
      apply,
    });
    if (collection.kind === 'aggregate') {
      return this.listAggregated(tenantId, context, collection.plan);
    }
    const plan = collection.plan;

    const statements: Statement[] = plan.search && searchSettings ? [searchSettings] : [];
    const countIndex = statements.length;
    if (plan.count) {
      statements.push(this.countStatement(tenantId, plan));
    }
    if (plan.pageSize > 0) {
      statements.push(this.pageStatement(tenantId, plan));
    }
    const results = await this.database.read(tenantId, statements);
    const count = plan.count ? countOf(results[countIndex]) : undefined;
    const rows = plan.pageSize > 0 ? (results[results.length - 1] as EntityRow[]) : [];

    const hasMore = rows.length > plan.pageSize;
    const page = hasMore ? rows.slice(0, plan.pageSize) : rows;
    return new CollectionResult(
      setPath,
      page.map(this.source.mapper(context.surface, plan.select)),
      {
        select: plan.select,
        count,
        nextLinkQuery: hasMore ? plan.nextLinkQuery(page[page.length - 1]) : undefined,
        collectionPath: setPath,
        editLinkOf: (entity) =>
          typeof entity.id === 'string' ? this.entityUrl(context, entity.id) : undefined,
      },
    );
  }

  async count(tenantId: string, context: GraphRequestContext): Promise<CountResult> {
    const counting = planCollectionCount(context.rawQuery, this.source.model, {
      surface: context.surface,
      accepted: COUNT_OPTIONS,
      alias: this.source.alias,
      apply: this.source.apply,
    });
    const total = await this.database.runQueries(tenantId, (queries) =>
      counting.kind === 'aggregate'
        ? this.countAggregated(queries, tenantId, counting.plan)
        : this.countMatching(queries, tenantId, counting.plan),
    );
    return new CountResult(total);
  }

  /** Checks the query options of a request on one entity against `accepted`, those it takes. */
  protected planEntity(
    context: GraphRequestContext,
    accepted: ReadonlySet<string>,
  ): EntityQueryPlan {
    return planEntityQuery(context.rawQuery, this.source.model, {
      surface: context.surface,
      accepted,
    });
  }

  /** Returns the lower-case GUID of a URL key. Any other key names no entity, so it throws 404. */
  protected parseKey(key: string): string {
    if (!GUID.test(key)) {
      throw this.notFoundById(key);
    }
    return key.toLowerCase();
  }

  protected notFoundById(key: string): GraphException {
    return notFound(`No ${this.source.model.entitySet} entity has the id '${key.slice(0, 100)}'.`);
  }

  protected entityUrl(context: GraphRequestContext, id: string): string {
    return `${context.baseUrl}/${this.source.setPath}/${id}`;
  }

  /**
   * Lists the result of an `$apply` that aggregates. Its rows are transient, so they have no
   * id, edit link or entity tag, and the next link pages with `$skip`.
   */
  private async listAggregated(
    tenantId: string,
    context: GraphRequestContext,
    plan: AggregateQueryPlan,
  ): Promise<CollectionResult> {
    const { rows, count } = await this.database.runQueries(tenantId, async (queries) => {
      const total = plan.count ? await this.countAggregated(queries, tenantId, plan) : undefined;
      const page = plan.pageSize > 0 ? await this.readAggregatePage(queries, tenantId, plan) : [];
      return { rows: page, count: total };
    });

    const hasMore = rows.length > plan.pageSize;
    const page = hasMore ? rows.slice(0, plan.pageSize) : rows;
    return new CollectionResult(
      this.source.setPath,
      page.map((row) => toAggregateEntity(row, plan, context.metadata)),
      {
        select: plan.contextSelect,
        count,
        nextLinkQuery: hasMore ? plan.nextLinkQuery() : undefined,
        collectionPath: this.source.setPath,
      },
    );
  }

  /** Builds the WHERE clause of a list or count statement: tenant, $filter and $search. */
  private matchingConditions(
    parameters: PositionalParameters,
    tenantId: string,
    plan: Pick<ListQueryPlan, 'filter' | 'search'>,
  ): string[] {
    const conditions = [`${this.source.alias}.tenant_id = ${parameters.next(tenantId)}`];
    if (plan.filter) {
      conditions.push(`(${parameters.add(plan.filter)})`);
    }
    if (plan.search) {
      conditions.push(`(${parameters.add(plan.search)})`);
    }
    return conditions;
  }

  /** Builds the statement that counts the tenant's rows matching $filter and $search. */
  private countStatement(
    tenantId: string,
    plan: Pick<ListQueryPlan, 'filter' | 'search'>,
  ): Statement {
    const { table, alias } = this.source;
    const parameters = new PositionalParameters();
    const conditions = this.matchingConditions(parameters, tenantId, plan);
    return {
      text: `SELECT count(*)::int AS "count" FROM ${table} ${alias} WHERE ${conditions.join(' AND ')}`,
      values: parameters.values,
    };
  }

  /** Builds the statement that reads one page of a list, plus one row that shows a next page. */
  private pageStatement(tenantId: string, plan: ListQueryPlan): Statement {
    const { selectList, table, alias } = this.source;
    const parameters = new PositionalParameters();
    const conditions = this.matchingConditions(parameters, tenantId, plan);
    if (plan.after) {
      conditions.push(`(${parameters.add(plan.after)})`);
    }
    const order = plan.orderBy.map(
      (column) => `${alias}.${column.column} ${column.direction} NULLS ${column.nulls}`,
    );
    let text =
      `SELECT ${selectList} FROM ${table} ${alias} WHERE ${conditions.join(' AND ')} ` +
      `ORDER BY ${order.join(', ')} LIMIT ${parameters.next(plan.pageSize + 1)}`;
    if (plan.skip > 0) {
      text += ` OFFSET ${parameters.next(plan.skip)}`;
    }
    return { text, values: parameters.values };
  }

  /**
   * Builds the FROM and WHERE clauses over the result of an aggregating `$apply`, which starts
   * from the tenant's rows.
   */
  private aggregatedFrom(
    parameters: PositionalParameters,
    tenantId: string,
    plan: Pick<AggregateCountPlan, 'relation' | 'filter' | 'search'>,
  ): string {
    const { table, alias } = this.source;
    const relation = plan.relation({
      from: `${table} ${alias}`,
      alias,
      condition: { sql: `${alias}.tenant_id = :tenantId`, params: { tenantId } },
    });
    const from = `FROM (${parameters.add(relation)}) ${APPLY_RESULT_ALIAS}`;
    const conditions = [plan.filter, plan.search].flatMap((fragment) =>
      fragment === undefined ? [] : [`(${parameters.add(fragment)})`],
    );
    return conditions.length === 0 ? from : `${from} WHERE ${conditions.join(' AND ')}`;
  }

  private async countMatching(
    queries: TenantQueries,
    tenantId: string,
    plan: Pick<ListQueryPlan, 'filter' | 'search'>,
  ): Promise<number> {
    const { text, values } = this.countStatement(tenantId, plan);
    return countOf(await queries.query(text, values));
  }

  private async countAggregated(
    queries: TenantQueries,
    tenantId: string,
    plan: AggregateCountPlan,
  ): Promise<number> {
    const parameters = new PositionalParameters();
    const from = this.aggregatedFrom(parameters, tenantId, plan);
    const rows = await queries.query(`SELECT count(*)::int AS "count" ${from}`, parameters.values);
    return countOf(rows);
  }

  private async readAggregatePage(
    queries: TenantQueries,
    tenantId: string,
    plan: AggregateQueryPlan,
  ): Promise<EntityRow[]> {
    const parameters = new PositionalParameters();
    const from = this.aggregatedFrom(parameters, tenantId, plan);
    const columns = plan.properties.map(
      (property) => `${APPLY_RESULT_ALIAS}.${property.column} AS "${property.column}"`,
    );
    const order = plan.orderBy.map(
      (column) =>
        `${APPLY_RESULT_ALIAS}.${column.column} ${column.direction} NULLS ${column.nulls}`,
    );
    let sql = `SELECT ${columns.join(', ')} ${from}`;
    if (order.length > 0) {
      sql += ` ORDER BY ${order.join(', ')}`;
    }
    sql += ` LIMIT ${parameters.next(plan.pageSize + 1)}`;
    if (plan.skip > 0) {
      sql += ` OFFSET ${parameters.next(plan.skip)}`;
    }
    return queries.query<EntityRow>(sql, parameters.values);
  }
}

function countOf(rows: readonly object[]): number {
  return Number((rows[0] as { count?: number } | undefined)?.count ?? 0);
}
