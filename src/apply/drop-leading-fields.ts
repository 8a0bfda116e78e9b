/**
 * COPY text lines with their first `count` fields removed, byte for byte
 * otherwise: a staging line (its number, flags and old keys first) becomes
 * a line of the replica table's own columns. Sound because COPY text escapes
 * every tab and newline inside a value, so a raw tab always ends a field and
 * a raw newline a line; a line may span any number of chunks.
 */
import { Transform } from 'node:stream';

const TAB = 0x09;
const NEWLINE = 0x0a;

export function dropLeadingFields(count: number): Transform {
  let skip = count;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const kept: Buffer[] = [];
      let at = 0;
      while (at < chunk.length) {
        if (skip > 0) {
          const tab = chunk.indexOf(TAB, at);
          if (tab === -1) break;
          skip--;
          at = tab + 1;
          continue;
        }
        const end = chunk.indexOf(NEWLINE, at);
        if (end === -1) {
          kept.push(chunk.subarray(at));
          break;
        }
        kept.push(chunk.subarray(at, end + 1));
        at = end + 1;
        skip = count;
      }
      done(null, kept.length === 1 ? kept[0] : Buffer.concat(kept));
    },
  });
}
