/** Writes db/init.sql from db/migrations and db/demo.sql (see src/db/init-sql.ts). */
import { writeFileSync } from 'node:fs';
import { generateInitSql, INIT_SQL_PATH } from '../src/db/init-sql.js';

writeFileSync(INIT_SQL_PATH, generateInitSql());
