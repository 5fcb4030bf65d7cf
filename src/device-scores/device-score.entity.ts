import { Column, Entity, PrimaryColumn } from 'typeorm';

/** One row of device_scores. Not the API shape: `toDeviceScoreResource` maps it to the wire. */
@Entity({ name: 'device_scores' })
export class DeviceScoreEntity {
  @PrimaryColumn({ name: 'tenant_id', type: 'uuid' })
  tenantId: string;

  @PrimaryColumn({ type: 'uuid' })
  id: string;

  @Column({ name: 'device_name', type: 'text', nullable: true })
  deviceName: string | null;

  @Column({ type: 'text', nullable: true })
  model: string | null;

  @Column({ type: 'text', nullable: true })
  manufacturer: string | null;

  @Column({ name: 'endpoint_analytics_score', type: 'double precision' })
  endpointAnalyticsScore: number;

  @Column({ name: 'startup_performance_score', type: 'double precision' })
  startupPerformanceScore: number;

  @Column({ name: 'app_reliability_score', type: 'double precision' })
  appReliabilityScore: number;

  @Column({ name: 'work_from_anywhere_score', type: 'double precision' })
  workFromAnywhereScore: number;

  @Column({ name: 'battery_health_score', type: 'double precision' })
  batteryHealthScore: number;

  @Column({ name: 'mean_resource_spike_time_score', type: 'double precision' })
  meanResourceSpikeTimeScore: number;

  @Column({ name: 'health_status', type: 'smallint' })
  healthStatus: number;

  @Column({ name: 'row_version', type: 'integer' })
  rowVersion: number;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
