/**
 * A node:test reporter for the version matrix (test/matrix/run.ts): one JSON
 * line per finished test or suite, `{ outcome, name, file, suite, failureType,
 * message }`, with the cause of a failure (a PostgreSQL error's code, detail,
 * position and context included), and a file's last stderr lines when it
 * failed outside any test (an import that throws). Plain JavaScript: the test
 * runner loads reporters before tsx's hooks apply (Node 20).
 */

/** @param {{ message?: string, cause?: unknown } | undefined} error */
function describeCause(error) {
  if (!error) return undefined;
  const cause = /** @type {Record<string, unknown>} */ (error.cause ?? error);
  if (typeof cause !== 'object' || cause === null) return String(cause);
  const parts = [String(cause.message ?? error.message ?? '')];
  for (const key of ['code', 'detail', 'hint', 'position', 'where', 'routine'])
    if (cause[key] !== undefined && cause[key] !== '') parts.push(`${key}: ${String(cause[key])}`);
  return parts.join(' | ');
}

/** @param {AsyncIterable<{ type: string, data: any }>} source */
export default async function* matrixReporter(source) {
  /** @type {Map<string, string>} */
  const stderr = new Map();
  for await (const event of source) {
    const { data } = event;
    if (event.type === 'test:stderr' && data.file) {
      stderr.set(data.file, `${stderr.get(data.file) ?? ''}${data.message ?? ''}`.slice(-2000));
      continue;
    }
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const error = data.details?.error;
    let message = event.type === 'test:fail' ? describeCause(error) : undefined;
    const outsideTests = data.nesting === 0 && data.name === data.file;
    if (event.type === 'test:fail' && outsideTests && stderr.has(data.file))
      message = `${message}: ${stderr.get(data.file)?.trim().split('\n').slice(-5).join(' | ')}`;
    const record = {
      outcome: event.type === 'test:pass' ? 'pass' : 'fail',
      name: data.name ?? '',
      file: data.file ?? '',
      suite: data.details?.type === 'suite',
      failureType: error?.failureType,
      message,
    };
    yield `${JSON.stringify(record)}\n`;
  }
}
