import type { EntityModel, EnumModel } from '../../src/odata/query/entity-model.js';

/** Test copy of the device scores model, so these tests do not depend on the resource folder. */
export const HEALTH_STATE: EnumModel = {
  name: 'userExperienceAnalyticsHealthState',
  members: [
    { name: 'unknown', value: 0 },
    { name: 'insufficientData', value: 1 },
    { name: 'needsAttention', value: 2 },
    { name: 'meetingGoals', value: 3 },
    { name: 'unknownFutureValue', value: 4 },
  ],
};

const BOTH = ['beta', 'v1.0'] as const;

const score = (name: string, column: string, surfaces: readonly ('beta' | 'v1.0')[] = BOTH) =>
  ({ name, column, kind: 'double', nullable: false, surfaces }) as const;

export const DEVICE_SCORES: EntityModel = {
  namespace: 'microsoft.graph',
  typeName: 'userExperienceAnalyticsDeviceScores',
  entitySet: 'userExperienceAnalyticsDeviceScores',
  key: 'id',
  properties: [
    { name: 'id', column: 'id', kind: 'guid', nullable: false, surfaces: BOTH },
    {
      name: 'deviceName',
      column: 'device_name',
      kind: 'string',
      nullable: true,
      surfaces: BOTH,
      searchable: true,
    },
    {
      name: 'model',
      column: 'model',
      kind: 'string',
      nullable: true,
      surfaces: BOTH,
      searchable: true,
    },
    {
      name: 'manufacturer',
      column: 'manufacturer',
      kind: 'string',
      nullable: true,
      surfaces: BOTH,
      searchable: true,
    },
    score('endpointAnalyticsScore', 'endpoint_analytics_score'),
    score('startupPerformanceScore', 'startup_performance_score'),
    score('appReliabilityScore', 'app_reliability_score'),
    score('workFromAnywhereScore', 'work_from_anywhere_score'),
    score('batteryHealthScore', 'battery_health_score'),
    score('meanResourceSpikeTimeScore', 'mean_resource_spike_time_score', ['beta']),
    {
      name: 'healthStatus',
      column: 'health_status',
      kind: 'enum',
      nullable: false,
      enum: HEALTH_STATE,
      surfaces: BOTH,
    },
  ],
};

/** Calls `action` and returns the message of the 400 GraphException it throws. */
export function badRequestMessage(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    const failure = error as { name?: string; status?: number; code?: string; message: string };
    expect(failure.name).toBe('GraphException');
    expect(failure.status).toBe(400);
    expect(failure.code).toBe('BadRequest');

    return failure.message;
  }
  throw new Error('Expected a 400 GraphException, but nothing was thrown.');
}
