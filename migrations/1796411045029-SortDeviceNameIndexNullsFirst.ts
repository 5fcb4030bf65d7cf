import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Rebuilds the device name index with nulls first. `$orderby=deviceName` sorts nulls before
 * every name, as OData requires, so the query says NULLS FIRST, which an index in the default
 * order (nulls last) cannot serve: PostgreSQL then sorted every row of the tenant for each
 * page. The new index serves `deviceName` ascending directly and descending by a backward scan.
 */
export class SortDeviceNameIndexNullsFirst1796411045029 implements MigrationInterface {
  name = 'SortDeviceNameIndexNullsFirst1796411045029';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX device_scores_device_name_idx`);
    await queryRunner.query(
      `CREATE INDEX device_scores_device_name_idx
         ON device_scores (tenant_id, device_name NULLS FIRST, id)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX device_scores_device_name_idx`);
    await queryRunner.query(
      `CREATE INDEX device_scores_device_name_idx ON device_scores (tenant_id, device_name, id)`,
    );
  }
}
