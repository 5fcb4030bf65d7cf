import type { AutocannonRequest } from 'autocannon';

import { CREATED_NAME_PREFIX, type Dataset } from './dataset.js';

export const COLLECTION_PATH = '/beta/deviceManagement/userExperienceAnalyticsDeviceScores';
export const MODEL_SCORES_PATH = '/beta/deviceManagement/userExperienceAnalyticsModelScores';

/** Query of the dashboard list: the first page of devices that need attention, worst first. */
export const DASHBOARD_QUERY =
  "$filter=healthStatus eq 'needsAttention'&$orderby=endpointAnalyticsScore desc&$top=100";

/** Average endpoint analytics score and device count per model, the ten lowest averages first. */
export const GROUP_BY_MODEL_QUERY =
  '$apply=groupby((manufacturer,model),aggregate(endpointAnalyticsScore with average as ' +
  'averageScore,$count as deviceCount))&$orderby=averageScore&$top=10';

/** Query of the dashboard's table of the ten models with the lowest available average score. */
export const WORST_MODELS_QUERY =
  '$filter=endpointAnalyticsScore ne -1&$orderby=endpointAnalyticsScore,modelDeviceCount desc&' +
  '$top=10&$select=model,manufacturer,modelDeviceCount,endpointAnalyticsScore,healthStatus';

/**
 * Connections of the `$apply` scenario, as many as either server has pool connections. Each
 * request aggregates every device of a tenant: 100,000 rows and 100 to 190 ms of PostgreSQL time
 * in the full dataset (EXPLAIN ANALYZE on 2 cores, see bench/RESULTS.md). With 64 connections
 * most requests would wait for a pool connection, and in the service some would wait past its
 * 5 s limit and get a 503, so the run would measure the queue.
 */
export const GROUP_BY_MODEL_CONNECTIONS = 10;

/** Page reached through next links in the deep-page scenario. */
export const DEEP_PAGE_NUMBER = 500;

/**
 * The servers a run can measure: the service built from this checkout, the baseline, and the
 * service built from another checkout for before-and-after comparisons.
 */
export type TargetName = 'service' | 'baseline' | 'previous';

/** One server under test. */
export interface Target {
  readonly name: TargetName;
  readonly origin: string;
}

/** Inputs of every scenario: the dataset, a token per tenant and the prepared deep-page paths. */
export interface ScenarioInputs {
  readonly dataset: Dataset;
  readonly tokens: ReadonlyMap<string, string>;
  /** Path and query of page DEEP_PAGE_NUMBER for each tenant, found by following next links. */
  readonly deepPagePaths: ReadonlyMap<string, string>;
}

export type RequestFactory = () => AutocannonRequest;

export interface Scenario {
  readonly key: string;
  readonly title: string;
  /** Minimum ratio of service to baseline requests per second that the scenario must reach. */
  readonly targetRatio: number;
  /** Maximum concurrent connections, for requests too slow for the --connections default. */
  readonly maxConnections?: number;
  /** Maximum measured seconds per run in a --quick run, which must stay under two minutes. */
  readonly quickDurationSeconds?: number;
  /** Returns a function that builds the next request; each request picks a random tenant. */
  requests(inputs: ScenarioInputs): RequestFactory;
  /**
   * Returns the scenario's request for each tenant. The runner sends them to the service and
   * the baseline before timing and stops when a status or body differs.
   */
  sameBodyRequests?(inputs: ScenarioInputs): AutocannonRequest[];
}

/** Encodes a query the way a browser's URLSearchParams would, keeping `$` readable. */
export function encodeQuery(query: string): string {
  return query
    .split('&')
    .map((part) => {
      const at = part.indexOf('=');
      return `${part.slice(0, at)}=${encodeURIComponent(part.slice(at + 1))}`;
    })
    .join('&');
}

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)];
}

function randomScore(): number {
  return Math.round(Math.random() * 10000) / 100;
}

function authorization(inputs: ScenarioInputs, tenantId: string): Record<string, string> {
  return { authorization: `Bearer ${inputs.tokens.get(tenantId) ?? ''}` };
}

function getRequest(
  inputs: ScenarioInputs,
  tenantId = pick(inputs.dataset.tenantIds),
): AutocannonRequest {
  const id = pick(inputs.dataset.sampleIds.get(tenantId) ?? []);
  return {
    method: 'GET',
    path: `${COLLECTION_PATH}/${id}`,
    headers: authorization(inputs, tenantId),
  };
}

function listRequest(
  inputs: ScenarioInputs,
  query: string,
  tenantId = pick(inputs.dataset.tenantIds),
  collectionPath = COLLECTION_PATH,
): AutocannonRequest {
  const path = query === '' ? collectionPath : `${collectionPath}?${encodeQuery(query)}`;
  return { method: 'GET', path, headers: authorization(inputs, tenantId) };
}

/** Returns one request per tenant, built by `build`. */
function perTenant(
  inputs: ScenarioInputs,
  build: (tenantId: string) => AutocannonRequest,
): AutocannonRequest[] {
  return inputs.dataset.tenantIds.map(build);
}

function deepPageRequest(inputs: ScenarioInputs): AutocannonRequest {
  const tenantId = pick(inputs.dataset.tenantIds);
  return {
    method: 'GET',
    path: inputs.deepPagePaths.get(tenantId) ?? COLLECTION_PATH,
    headers: authorization(inputs, tenantId),
  };
}

let createdCount = 0;

function createRequest(inputs: ScenarioInputs): AutocannonRequest {
  const tenantId = pick(inputs.dataset.tenantIds);
  createdCount += 1;
  const body = {
    '@odata.type': '#microsoft.graph.userExperienceAnalyticsDeviceScores',
    deviceName: `${CREATED_NAME_PREFIX}${createdCount}`,
    model: 'Surface Pro 9',
    manufacturer: 'Microsoft Corporation',
    endpointAnalyticsScore: randomScore(),
    startupPerformanceScore: randomScore(),
    appReliabilityScore: randomScore(),
    workFromAnywhereScore: randomScore(),
    batteryHealthScore: randomScore(),
    healthStatus: 'insufficientData',
  };
  return {
    method: 'POST',
    path: COLLECTION_PATH,
    headers: { ...authorization(inputs, tenantId), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  };
}

function updateRequest(inputs: ScenarioInputs): AutocannonRequest {
  const tenantId = pick(inputs.dataset.tenantIds);
  const id = pick(inputs.dataset.sampleIds.get(tenantId) ?? []);
  const body = { endpointAnalyticsScore: randomScore(), batteryHealthScore: randomScore() };
  return {
    method: 'PATCH',
    path: `${COLLECTION_PATH}/${id}`,
    headers: { ...authorization(inputs, tenantId), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  };
}

/**
 * Builds one request of the mixed dashboard load: 80% lists (40% first page, 15% first page with $count, 15% the deep
 * page, 10% $search), 15% gets and 5% writes (3% updates, 2% creates).
 */
function mixedRequest(inputs: ScenarioInputs): AutocannonRequest {
  const draw = Math.random();
  if (draw < 0.4) {
    return listRequest(inputs, DASHBOARD_QUERY);
  }
  if (draw < 0.55) {
    return listRequest(inputs, `${DASHBOARD_QUERY}&$count=true`);
  }
  if (draw < 0.7) {
    return deepPageRequest(inputs);
  }
  if (draw < 0.8) {
    return listRequest(inputs, SEARCH_QUERY);
  }
  if (draw < 0.95) {
    return getRequest(inputs);
  }
  return draw < 0.98 ? updateRequest(inputs) : createRequest(inputs);
}

const SEARCH_QUERY = '$search=thinkpad&$top=100';
const READ_TARGET = 0.85;
const WRITE_TARGET = 0.8;

export const SCENARIOS: readonly Scenario[] = [
  {
    key: 'get',
    title: 'Get by id',
    targetRatio: READ_TARGET,
    requests: (inputs) => () => getRequest(inputs),
    sameBodyRequests: (inputs) => perTenant(inputs, (tenantId) => getRequest(inputs, tenantId)),
  },
  {
    key: 'list',
    title: 'First page of 100, filtered and sorted',
    targetRatio: READ_TARGET,
    requests: (inputs) => () => listRequest(inputs, DASHBOARD_QUERY),
    sameBodyRequests: (inputs) =>
      perTenant(inputs, (tenantId) => listRequest(inputs, DASHBOARD_QUERY, tenantId)),
  },
  {
    key: 'list-count',
    title: 'The same with $count=true',
    targetRatio: READ_TARGET,
    requests: (inputs) => () => listRequest(inputs, `${DASHBOARD_QUERY}&$count=true`),
    sameBodyRequests: (inputs) =>
      perTenant(inputs, (tenantId) =>
        listRequest(inputs, `${DASHBOARD_QUERY}&$count=true`, tenantId),
      ),
  },
  {
    key: 'deep-page',
    title: `Page ${DEEP_PAGE_NUMBER} through next links`,
    targetRatio: READ_TARGET,
    requests: (inputs) => () => deepPageRequest(inputs),
  },
  {
    key: 'search',
    title: '$search=thinkpad, first page of 100',
    targetRatio: READ_TARGET,
    requests: (inputs) => () => listRequest(inputs, SEARCH_QUERY),
    sameBodyRequests: (inputs) =>
      perTenant(inputs, (tenantId) => listRequest(inputs, SEARCH_QUERY, tenantId)),
  },
  {
    key: 'create',
    title: 'Create',
    targetRatio: WRITE_TARGET,
    requests: (inputs) => () => createRequest(inputs),
  },
  {
    key: 'update',
    title: 'Update (PATCH, 204)',
    targetRatio: WRITE_TARGET,
    requests: (inputs) => () => updateRequest(inputs),
  },
  {
    key: 'mixed',
    title: 'Mixed dashboard load (80% lists, 15% gets, 5% writes)',
    targetRatio: READ_TARGET,
    requests: (inputs) => () => mixedRequest(inputs),
  },
  {
    key: 'apply-groupby',
    title: '$apply average score per model, lowest 10',
    targetRatio: READ_TARGET,
    maxConnections: GROUP_BY_MODEL_CONNECTIONS,
    quickDurationSeconds: 2,
    requests: (inputs) => () => listRequest(inputs, GROUP_BY_MODEL_QUERY),
    sameBodyRequests: (inputs) =>
      perTenant(inputs, (tenantId) => listRequest(inputs, GROUP_BY_MODEL_QUERY, tenantId)),
  },
  {
    key: 'model-scores',
    title: 'Model scores, whole collection',
    targetRatio: READ_TARGET,
    quickDurationSeconds: 1,
    requests: (inputs) => () => listRequest(inputs, '', undefined, MODEL_SCORES_PATH),
    sameBodyRequests: (inputs) =>
      perTenant(inputs, (tenantId) => listRequest(inputs, '', tenantId, MODEL_SCORES_PATH)),
  },
  {
    key: 'worst-models',
    title: "Model scores, the dashboard's ten worst models",
    targetRatio: READ_TARGET,
    quickDurationSeconds: 1,
    requests: (inputs) => () =>
      listRequest(inputs, WORST_MODELS_QUERY, undefined, MODEL_SCORES_PATH),
    sameBodyRequests: (inputs) =>
      perTenant(inputs, (tenantId) =>
        listRequest(inputs, WORST_MODELS_QUERY, tenantId, MODEL_SCORES_PATH),
      ),
  },
];
