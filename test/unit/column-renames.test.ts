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

  it('knows a column dropped while running, until its name is in use again', () => {
    const renames = new ColumnRenames();
    renames.learn([
      table(4, [
        [1, 'id'],
        [2, 's'],
        [3, 'n'],
      ]),
    ]);
    assert.deepEqual([...renames.droppedNames(4)], []);
    renames.learn([
      table(4, [
        [1, 'id'],
        [3, 'n'],
        [4, 'c1'],
      ]),
    ]);
    assert.deepEqual([...renames.droppedNames(4)], ['s']);
    assert.deepEqual(renames.earlierNames(4, 'c1'), [], 'an added column is no rename of the dropped one');
    renames.learn([
      table(4, [
        [1, 'id'],
        [3, 'n'],
        [4, 'c1'],
        [5, 's'],
      ]),
    ]);
    assert.deepEqual([...renames.droppedNames(4)], [], 's is a column again');
    assert.deepEqual([...renames.droppedNames(5)], [], 'another table knows nothing');
  });

  it('knows the earlier names of a renamed column that was then dropped', () => {
    const renames = new ColumnRenames();
    renames.learn([
      table(6, [
        [1, 'id'],
        [2, 'a'],
      ]),
    ]);
    renames.learn([
      table(6, [
        [1, 'id'],
        [2, 'b'],
      ]),
    ]);
    renames.learn([table(6, [[1, 'id']])]);
    assert.deepEqual([...renames.droppedNames(6)].sort(), ['a', 'b']);
  });
});
