import { HEALTH_STATE_ENUM } from '../device-scores/device-scores.model.js';
import type { EntityModel, PropertyModel, Surface } from '../odata/query/entity-model.js';

/** Path of the collection under each surface's base URL. */
export const MODEL_SCORES_SET_PATH = 'deviceManagement/userExperienceAnalyticsModelScores';

export const MODEL_SCORES_ODATA_TYPE = '#microsoft.graph.userExperienceAnalyticsModelScores';

/**
 * Edm types that the property kinds do not imply. The query engine treats the device count as a
 * number like the scores, while Graph's metadata types it Edm.Int64.
 */
export const MODEL_SCORES_EDM_TYPES: Readonly<Record<string, string>> = {
  modelDeviceCount: 'Edm.Int64',
};

const BOTH = ['beta', 'v1.0'] as const;

function score(name: string, column: string, surfaces: readonly Surface[] = BOTH): PropertyModel {
  return { name, column, kind: 'double', nullable: false, surfaces };
}

/**
 * The model scores entity, one per manufacturer and model of the tenant's devices, as the query
 * engine, the mapper and $metadata see it. Columns are those of the `model_scores` view.
 * Property order is the order of the wire representation.
 */
export const MODEL_SCORES_MODEL: EntityModel = {
  namespace: 'microsoft.graph',
  typeName: 'userExperienceAnalyticsModelScores',
  entitySet: 'userExperienceAnalyticsModelScores',
  key: 'id',
  properties: [
    { name: 'id', column: 'id', kind: 'guid', nullable: false, surfaces: BOTH },
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
    score('modelDeviceCount', 'model_device_count'),
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
      enum: HEALTH_STATE_ENUM,
      surfaces: BOTH,
    },
  ],
};

/** The averaged scores, where -1 means that no device of the model has the score. */
export const MODEL_SCORE_PROPERTIES = MODEL_SCORES_MODEL.properties
  .filter((property) => property.kind === 'double' && property.name !== 'modelDeviceCount')
  .map((property) => property.name);
