/** The replicator in the test process (faster than a child where no crash is needed). */
import { parseConfig } from '../../src/config/parse-config.js';
import { createLogger } from '../../src/log.js';
import { type Service, startService } from '../../src/service.js';
import { captureEnv, streaming, TEST_LOGICAL } from './capture-mode.js';
import type { TestServers } from './servers.js';

/** Runs as the least-privilege replicator logins unless `asOwner` (e.g. to let it ALTER replica tables). */
export async function startInProcess(servers: TestServers, env: Record<string, string> = {}, asOwner = false): Promise<Service> {
  const config = parseConfig({ HTTP_PORT: '0', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...captureEnv(), ...env });
  const service = await startService(
    config,
    asOwner ? servers : servers.replicator,
    createLogger(config.logLevel, { pretty: false }),
  );
  if (TEST_LOGICAL && !env.CAPTURE_MODE) await streaming(async () => service.status.state);
  return service;
}
