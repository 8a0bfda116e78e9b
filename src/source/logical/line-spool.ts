/**
 * The COPY lines of one table in one primary transaction, in the order the
 * changes were made: in memory while small, in a temporary file once the
 * process's budget is spent, so a transaction of any size never holds more
 * than the budget in memory. A line given in parts (one holding a large
 * value, addStreamed) goes to the file as it is made, never whole in memory:
 * the lines before it go there first, so the order holds. The file is
 * removed by discard(), the folder when the process exits.
 */
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

let directory: string | undefined;
let files = 0;

function spoolFile(): string {
  if (!directory) {
    const made = mkdtempSync(path.join(tmpdir(), 'pg-replicator-spool-'));
    directory = made;
    // The folder goes with the process (a SIGKILL leaves it; the next spool uses a new one).
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
  }
  return path.join(directory, `${process.pid}-${files++}.copy`);
}

const FLUSH_BYTES = 1 << 20;

function writeAll(fd: number, bytes: Buffer): void {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
}

export class LineSpool {
  private lines: string[] = [];
  private pending = 0;
  private file: string | undefined;
  /** Bytes of text held, in memory or on disk. */
  bytes = 0;
  /** Bytes held in memory. */
  memory = 0;
  /** Lines held, in memory or on disk. */
  count = 0;

  add(line: string): void {
    this.lines.push(line);
    this.count++;
    this.bytes += line.length;
    this.pending += line.length;
    if (this.file) {
      if (this.pending >= FLUSH_BYTES) this.flush();
    } else {
      this.memory += line.length;
    }
  }

  /** One line, given as its parts in order (COPY text; the caller ends it with its newline), written to the file. */
  addStreamed(parts: Iterable<string | Buffer>): void {
    this.spill();
    this.flush();
    const fd = openSync(this.file as string, 'a');
    try {
      for (const part of parts) {
        const bytes = typeof part === 'string' ? Buffer.from(part) : part;
        writeAll(fd, bytes);
        this.bytes += bytes.length;
      }
    } finally {
      closeSync(fd);
    }
    this.count++;
  }

  get spilled(): boolean {
    return this.file !== undefined;
  }

  /** Moves what is in memory to disk; later lines follow it there. */
  spill(): void {
    if (this.file) return;
    this.file = spoolFile();
    this.memory = 0;
    this.flush();
  }

  /** Appends the lines held to the file, about FLUSH_BYTES at a time (never all of them joined in one string). */
  private flush(): void {
    if (!this.file || this.lines.length === 0) return;
    const fd = openSync(this.file, 'a');
    try {
      let from = 0;
      let size = 0;
      for (let i = 0; i < this.lines.length; i++) {
        size += (this.lines[i] as string).length;
        if (size >= FLUSH_BYTES || i === this.lines.length - 1) {
          writeAll(fd, Buffer.from(this.lines.slice(from, i + 1).join('')));
          from = i + 1;
          size = 0;
        }
      }
    } finally {
      closeSync(fd);
    }
    this.lines = [];
    this.pending = 0;
  }

  /** Every line, in order, when all are in memory; undefined once spilled to disk. */
  inMemory(): readonly string[] | undefined {
    return this.file ? undefined : this.lines;
  }

  /** The lines in order, as chunks for a COPY FROM STDIN. */
  async *read(): AsyncGenerator<string | Buffer> {
    this.flush();
    if (this.file) {
      for await (const chunk of createReadStream(this.file)) yield chunk as Buffer;
    } else if (this.lines.length > 0) {
      yield this.lines.join('');
    }
  }

  discard(): void {
    this.lines = [];
    if (this.file) rmSync(this.file, { force: true });
    this.file = undefined;
    this.bytes = 0;
    this.memory = 0;
    this.count = 0;
  }
}
