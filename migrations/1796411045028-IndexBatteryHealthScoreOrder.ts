import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Adds an index for `$orderby=batteryHealthScore`, a dashboard sort. Without it PostgreSQL reads
 * and sorts every row of the tenant for each page. With it a page, ascending or descending, and
 * a keyset next page read only the rows they return.
 */
export class IndexBatteryHealthScoreOrder1796411045028 implements MigrationInterface {
  name = 'IndexBatteryHealthScoreOrder1796411045028';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX device_scores_battery_health_score_idx
         ON device_scores (tenant_id, battery_health_score, id)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX device_scores_battery_health_score_idx`);
  }
}
