/**
 * sslmode=prefer as libpq means it: TLS when the server offers it, a plain
 * connection when it answers that it has none. node-postgres either demands
 * TLS or never asks, so for prefer it is handed this socket (its `stream`
 * option) with TLS off: the socket sends PostgreSQL's SSLRequest itself, then
 * carries the driver's bytes over TLS ('S') or over the plain socket ('N').
 * The driver sees an ordinary socket that connects once the choice is made,
 * and what it writes in one go (corked) leaves in one write.
 */
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';

/** Int32 length 8, Int32 code 80877103: PostgreSQL's SSLRequest. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

export class PreferTlsSocket extends Duplex {
  private readonly raw = new net.Socket();
  private inner: net.Socket | undefined;

  constructor(private readonly tlsOptions: tls.ConnectionOptions) {
    super();
  }

  setNoDelay(noDelay?: boolean): this {
    this.raw.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.raw.setKeepAlive(enable, initialDelay);
    return this;
  }

  ref(): this {
    this.raw.ref();
    return this;
  }

  unref(): this {
    this.raw.unref();
    return this;
  }

  connect(port: number, host: string): this {
    const raw = this.raw;
    const onError = (error: Error) => this.destroy(error);
    raw.on('error', onError);
    raw.connect(port, host, () => {
      raw.write(SSL_REQUEST);
      raw.once('data', (answer: Buffer) => {
        if (answer[0] === 0x4e /* N: no TLS here */ && answer.length === 1) {
          this.attach(raw);
        } else if (answer[0] === 0x53 /* S */ && answer.length === 1) {
          // SNI must not be an IP address (RFC 6066).
          const servername = net.isIP(host) === 0 ? host : undefined;
          const secure = tls.connect({ ...this.tlsOptions, socket: raw, host, servername });
          secure.on('error', onError);
          secure.once('secureConnect', () => this.attach(secure));
        } else {
          this.destroy(new Error('There was an error establishing an SSL connection'));
        }
      });
    });
    return this;
  }

  private attach(socket: net.Socket): void {
    this.inner = socket;
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
    this.emit('connect');
  }

  override _read(): void {
    this.inner?.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.inner) {
      callback(new Error('write before the connection was established'));
      return;
    }
    this.inner.write(chunk, encoding, callback);
  }

  /**
   * What the driver corks together (a query's Parse, Bind, Describe, Execute
   * and Sync) goes out as one write: one system call and one wakeup of the
   * server's backend instead of one per message.
   */
  override _writev(
    chunks: Array<{ chunk: Buffer | string; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    if (!this.inner) {
      callback(new Error('write before the connection was established'));
      return;
    }
    const buffers = chunks.map(({ chunk, encoding }) => (typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk));
    this.inner.write(buffers.length === 1 ? (buffers[0] as Buffer) : Buffer.concat(buffers), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.inner) this.inner.end(callback);
    else callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    (this.inner ?? this.raw).destroy();
    this.raw.destroy();
    callback(error);
  }
}
