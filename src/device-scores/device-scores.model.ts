import type { EntityModel, EnumModel } from '../odata/query/entity-model.js';

export const HEALTH_STATE_ENUM: EnumModel = {
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

/**
 * The device scores entity as the query engine, the mapper and $metadata see it. Property order is
 * the order of the wire representation.
 */
export const DEVICE_SCORES_MODEL: EntityModel = {
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
    {
      name: 'endpointAnalyticsScore',
      column: 'endpoint_analytics_score',
      kind: 'double',
      nullable: false,
      surfaces: BOTH,
    },
    {
      name: 'startupPerformanceScore',
      column: 'startup_performance_score',
      kind: 'double',
      nullable: false,
      surfaces: BOTH,
    },
    {
      name: 'appReliabilityScore',
      column: 'app_reliability_score',
      kind: 'double',
      nullable: false,
      surfaces: BOTH,
    },
    {
      name: 'workFromAnywhereScore',
      column: 'work_from_anywhere_score',
      kind: 'double',
      nullable: false,
      surfaces: BOTH,
    },
    {
      name: 'batteryHealthScore',
      column: 'battery_health_score',
      kind: 'double',
      nullable: false,
      surfaces: BOTH,
    },
    {
      name: 'meanResourceSpikeTimeScore',
      column: 'mean_resource_spike_time_score',
      kind: 'double',
      nullable: false,
      surfaces: ['beta'],
    },
    {
      name: 'healthStatus',
      column: 'health_status',
      kind: 'enum',
      nullable: false,
      enum: HEALTH_STATE_ENUM,
      surfaces: BOTH,
    },
  ],
};
