import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Adds row-level security as a second wall behind the tenant condition of every query.
 * Requests switch to the role eas_request, which owns nothing and cannot bypass policies, and
 * set eas.tenant_id for their transaction; the policy admits only that tenant's rows, and no
 * rows at all when the setting is missing.
 */
export class IsolateTenantsWithRowSecurity1764806400001 implements MigrationInterface {
  name = 'IsolateTenantsWithRowSecurity1764806400001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      DO $$
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'eas_request') THEN
          CREATE ROLE eas_request NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
        END IF;
      END
      $$
    `);
    await queryRunner.query(`GRANT eas_request TO CURRENT_USER`);
    await queryRunner.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON device_scores TO eas_request`);
    await queryRunner.query(`ALTER TABLE device_scores ENABLE ROW LEVEL SECURITY`);
    await queryRunner.query(`
      CREATE POLICY device_scores_tenant_isolation ON device_scores
        USING (tenant_id = NULLIF(current_setting('eas.tenant_id', true), '')::uuid)
        WITH CHECK (tenant_id = NULLIF(current_setting('eas.tenant_id', true), '')::uuid)
    `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP POLICY device_scores_tenant_isolation ON device_scores`);
    await queryRunner.query(`ALTER TABLE device_scores DISABLE ROW LEVEL SECURITY`);
    await queryRunner.query(
      `REVOKE SELECT, INSERT, UPDATE, DELETE ON device_scores FROM eas_request`,
    );
  }
}
