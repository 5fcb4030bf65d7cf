import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Creates the device scores table. The tenant id leads the primary key and every index, so one
 * tenant's queries never touch another tenant's index pages. Health status is a smallint holding
 * the Graph enum member value, because smallint equality can be an index condition under
 * row-level security while enum-type equality cannot (it is not leakproof).
 */
export class CreateDeviceScores1764806400000 implements MigrationInterface {
  name = 'CreateDeviceScores1764806400000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE device_scores (
        tenant_id uuid NOT NULL,
        id uuid NOT NULL,
        device_name text,
        model text,
        manufacturer text,
        endpoint_analytics_score double precision NOT NULL DEFAULT -1,
        startup_performance_score double precision NOT NULL DEFAULT -1,
        app_reliability_score double precision NOT NULL DEFAULT -1,
        work_from_anywhere_score double precision NOT NULL DEFAULT -1,
        battery_health_score double precision NOT NULL DEFAULT -1,
        mean_resource_spike_time_score double precision NOT NULL DEFAULT -1,
        health_status smallint NOT NULL DEFAULT 0,
        row_version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT device_scores_pkey PRIMARY KEY (tenant_id, id),
        CONSTRAINT device_scores_health_status_check CHECK (health_status BETWEEN 0 AND 3),
        CONSTRAINT device_scores_scores_check CHECK (
          (endpoint_analytics_score = -1 OR endpoint_analytics_score BETWEEN 0 AND 100)
          AND (startup_performance_score = -1 OR startup_performance_score BETWEEN 0 AND 100)
          AND (app_reliability_score = -1 OR app_reliability_score BETWEEN 0 AND 100)
          AND (work_from_anywhere_score = -1 OR work_from_anywhere_score BETWEEN 0 AND 100)
          AND (battery_health_score = -1 OR battery_health_score BETWEEN 0 AND 100)
          AND (mean_resource_spike_time_score = -1
            OR mean_resource_spike_time_score BETWEEN 0 AND 100)
        ),
        CONSTRAINT device_scores_text_length_check CHECK (
          char_length(device_name) <= 256
          AND char_length(model) <= 256
          AND char_length(manufacturer) <= 256
        )
      )
    `);
    await queryRunner.query(
      `CREATE INDEX device_scores_device_name_idx ON device_scores (tenant_id, device_name, id)`,
    );
    await queryRunner.query(
      `CREATE INDEX device_scores_health_status_score_idx
         ON device_scores (tenant_id, health_status, endpoint_analytics_score, id)`,
    );
    await queryRunner.query(
      `CREATE INDEX device_scores_endpoint_score_idx
         ON device_scores (tenant_id, endpoint_analytics_score, id)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE device_scores`);
  }
}
