import type { DataSource } from 'typeorm';

import { DEVICE_SCORES_MODEL } from '../../src/device-scores/device-scores.model.js';
import { planListQuery, type ListQueryPlan } from '../../src/odata/query/list-query.js';
import {
  buildQuery,
  explainPlan,
  LIST_ACCEPTED,
  newTenantId,
  openPlanDatabase,
  type PlanNode,
} from './plan-database.js';

// Checks that an index can serve the order and filter of each dashboard query, so a page reads
// only the rows it returns instead of sorting the whole tenant. Sorting, sequential scans and
// bitmap scans are switched off for the transaction: PostgreSQL still sorts when no index gives
// the requested order, so the plan shape does not depend on table statistics or size.

const TENANT = newTenantId();
const HEALTH_FILTER = "healthStatus eq 'needsAttention'";
const LAST_ROW = {
  id: '00000000-0000-4000-8000-00000000000a',
  device_name: 'DESKTOP-42',
  endpoint_analytics_score: 50.5,
  battery_health_score: 61,
};
/** Either index gives the score order, and statistics decide which one PostgreSQL takes. */
const SCORE_INDEXES = ['device_scores_health_status_score_idx', 'device_scores_endpoint_score_idx'];
const NO_SORT_SETTINGS = {
  enable_sort: 'off',
  enable_seqscan: 'off',
  enable_bitmapscan: 'off',
};

function plan(options: Record<string, string | number | boolean>): ListQueryPlan {
  return planListQuery(buildQuery(options), DEVICE_SCORES_MODEL, {
    surface: 'beta',
    maxPageSize: 1000,
    skiptokenSecret: Buffer.from('query-plans-skiptoken-secret-0123456789'),
    scope: `${TENANT}|beta|deviceManagement/userExperienceAnalyticsDeviceScores`,
    accepted: LIST_ACCEPTED,
    alias: 'ds',
  });
}

/** Plans the page after LAST_ROW, as its next link requests it. */
function nextPagePlan(options: Record<string, string | number | boolean>): ListQueryPlan {
  return planListQuery(plan(options).nextLinkQuery(LAST_ROW), DEVICE_SCORES_MODEL, {
    surface: 'beta',
    maxPageSize: 1000,
    skiptokenSecret: Buffer.from('query-plans-skiptoken-secret-0123456789'),
    scope: `${TENANT}|beta|deviceManagement/userExperienceAnalyticsDeviceScores`,
    accepted: LIST_ACCEPTED,
    alias: 'ds',
  });
}

function nodes(root: PlanNode): PlanNode[] {
  return [root, ...(root.Plans ?? []).flatMap(nodes)];
}

function nodeTypes(root: PlanNode): string[] {
  return nodes(root).map((node) => node['Node Type']);
}

function indexNames(root: PlanNode): string[] {
  return nodes(root).flatMap((node) =>
    node['Index Name'] === undefined ? [] : [node['Index Name']],
  );
}

/** Checks that the plan reads at least one index, and only indexes from `allowed`. */
function expectIndexesFrom(root: PlanNode, allowed: readonly string[]): void {
  const used = indexNames(root);

  expect(used.length).toBeGreaterThan(0);
  expect(used.filter((name) => !allowed.includes(name))).toEqual([]);
}

describe('dashboard query plans', () => {
  let dataSource: DataSource;

  beforeAll(async () => {
    dataSource = await openPlanDatabase();
  });

  afterAll(async () => {
    await dataSource.destroy();
  });

  it.each([
    ['no $orderby, by id', {}, ['device_scores_pkey']],
    ['deviceName ascending', { $orderby: 'deviceName' }, ['device_scores_device_name_idx']],
    [
      'batteryHealthScore',
      { $orderby: 'batteryHealthScore' },
      ['device_scores_battery_health_score_idx'],
    ],
    [
      'health filter, endpointAnalyticsScore',
      { $filter: HEALTH_FILTER, $orderby: 'endpointAnalyticsScore' },
      SCORE_INDEXES,
    ],
  ])('%s is read in index order without a sort', async (_name, options, indexes) => {
    for (const page of [plan({ ...options, $top: 100 }), nextPagePlan({ ...options, $top: 100 })]) {
      const root = await explainPlan(dataSource, TENANT, page, { settings: NO_SORT_SETTINGS });

      expect(nodeTypes(root)).not.toContain('Sort');
      expect(nodeTypes(root)).not.toContain('Incremental Sort');
      expectIndexesFrom(root, indexes);
    }
  });

  // A descending sort still breaks ties by id ascending, so PostgreSQL scans the index backward
  // and sorts only each group of equal values.
  it.each([
    [
      'health filter, endpointAnalyticsScore desc',
      { $filter: HEALTH_FILTER, $orderby: 'endpointAnalyticsScore desc' },
      SCORE_INDEXES,
    ],
    ['deviceName desc', { $orderby: 'deviceName desc' }, ['device_scores_device_name_idx']],
    [
      'batteryHealthScore desc',
      { $orderby: 'batteryHealthScore desc' },
      ['device_scores_battery_health_score_idx'],
    ],
  ])('%s scans the index backward', async (_name, options, indexes) => {
    for (const page of [plan({ ...options, $top: 100 }), nextPagePlan({ ...options, $top: 100 })]) {
      const root = await explainPlan(dataSource, TENANT, page, { settings: NO_SORT_SETTINGS });

      expect(nodeTypes(root)).not.toContain('Sort');
      expectIndexesFrom(root, indexes);
      expect(nodes(root).some((node) => node['Scan Direction'] === 'Backward')).toBe(true);
    }
  });

  // PostgreSQL cannot use the OR of a mixed-order keyset condition as an index bound. The extra
  // bound on the score lets a deep page start reading at the last row of the page before.
  it('bounds a descending score page', async () => {
    const page = nextPagePlan({ $filter: HEALTH_FILTER, $orderby: 'endpointAnalyticsScore desc' });
    const root = await explainPlan(dataSource, TENANT, page, { settings: NO_SORT_SETTINGS });
    const conditions = nodes(root).flatMap((node) => node['Index Cond'] ?? []);

    expect(conditions.some((condition) => /endpoint_analytics_score <=/.test(condition))).toBe(
      true,
    );
  });
});
