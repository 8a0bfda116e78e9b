/**
 * Bearer-token check for the API: when API_TOKEN is set, every route but the
 * public ones needs `Authorization: Bearer <token>`. Compared in constant
 * time on digests, so neither the content nor the length of the token leaks
 * through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * The health probes stay open for load balancers and orchestrators (they say
 * a status and a coarse reason only); the dashboard's static shell holds no
 * data (it reads the token from the URL fragment, which browsers never send,
 * and asks /status with it).
 */
export const PUBLIC_PATHS = new Set(['/health', '/health/live', '/health/ready', '/', '/dashboard.css', '/dashboard.js']);

export function requireToken(app: FastifyInstance, token: string): void {
  const expected = digest(token);
  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    if (PUBLIC_PATHS.has(path)) return;
    const header = request.headers.authorization ?? '';
    const given = /^Bearer\s+(.+)$/i.exec(header)?.[1] ?? '';
    if (!timingSafeEqual(digest(given), expected)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="pg-replicator"')
        .send({ error: 'unauthorized', message: 'send Authorization: Bearer <API_TOKEN>' });
    }
  });
}
