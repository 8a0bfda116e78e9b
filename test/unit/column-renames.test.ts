import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ColumnRenames } from '../../src/source/logical/column-renames.js';
import type { ReplicatedTable } from '../../src/tables/table-model.js';

const table = (relid: number, columns: Array<[number, string]>) =>
  ({ relid, columns: columns.map(([attnum, name]) => ({ attnum, name })) }) as unknown as ReplicatedTable;

describe('column renames seen while running', () => {
  it('maps an earlier name to the current one, through chains, by attribute number', () => {
    const renames = new ColumnRenames();
    renames.learn([
      table(1, [
        [1, 'id'],
        [2, 's'],
      ]),
    ]);
    assert.deepEqual(renames.earlierNames(1, 'r1'), []);
    renames.learn([
      table(1, [
        [1, 'id'],
        [2, 'r1'],
      ]),
    ]);
    assert.deepEqual(renames.earlierNames(1, 'r1'), ['s']);
    renames.learn([
      table(1, [
        [1, 'id'],
        [2, 'r2'],
      ]),
    ]);
    assert.deepEqual(renames.earlierNames(1, 'r2').sort(), ['r1', 's']);
    assert.deepEqual(renames.earlierNames(1, 'r1'), []);
  });

  it('is no rename when a column is dropped and another added under its name', () => {
    const renames = new ColumnRenames();
    renames.learn([
      table(2, [
        [1, 'id'],
        [2, 'a'],
      ]),
    ]);
    renames.learn([
      table(2, [
        [1, 'id'],
        [3, 'a'],
      ]),
    ]);
    assert.deepEqual(renames.earlierNames(2, 'a'), []);
    renames.learn([
      table(2, [
        [1, 'id'],
        [3, 'b'],
      ]),
    ]);
    assert.deepEqual(renames.earlierNames(2, 'b'), ['a']);
    assert.deepEqual(renames.earlierNames(3, 'b'), [], 'another table knows nothing');
  });
});
