/**
 * A TCP proxy on 127.0.0.1 in front of a database, so a test can cut every
 * connection the replicator holds (mid-batch) without touching the server.
 */
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** Destroys every open connection; new ones are accepted as before. */
  cutAll(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair = [client, upstream];
    for (const s of pair) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        for (const other of pair) other.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    cutAll() {
      const n = sockets.size;
      for (const s of sockets) s.destroy();
      return n;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
