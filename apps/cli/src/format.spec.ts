import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFloatIn, parseIntList, parsePositiveInt, parseVote, parseWhere, percent, table } from './format.js';

test('table aligns columns, right-aligns numbers, and counts wide characters as two columns', () => {
  assert.equal(table(['label', 'n'], [['bolt', '3'], ['nut', '12']], [1]), 'label   n\nbolt    3\nnut    12');
  assert.equal(table(['a', 'b'], [['양호', 'x'], ['ok', 'y']]), 'a     b\n양호  x\nok    y');
});

test('option parsers: whole numbers, lists of k, ranges, vote, where', () => {
  assert.equal(parsePositiveInt('--k', 1, 100)('5'), 5);
  assert.throws(() => parsePositiveInt('--k', 1, 100)('0'), /--k must be a whole number from 1 to 100, not "0"/);
  assert.throws(() => parsePositiveInt('--k')('2.5'), /whole number/);
  assert.deepEqual(parseIntList('--k')('1, 5,5,10'), [1, 5, 10]);
  assert.throws(() => parseIntList('--k')(','), /at least one/);
  assert.equal(parseFloatIn('--min-similarity', -1, 1)('0.5'), 0.5);
  assert.throws(() => parseFloatIn('--min-similarity', -1, 1)('1.5'), /from -1 to 1/);
  assert.throws(() => parseFloatIn('--min-similarity', -1, 1)(''), /number/);
  assert.equal(parseVote('majority'), 'MAJORITY');
  assert.equal(parseVote('Similarity'), 'SIMILARITY');
  assert.throws(() => parseVote('mean'), /majority or similarity/);
  assert.deepEqual(parseWhere('part=bolt'), { part: 'bolt' });
  assert.deepEqual(parseWhere('line:=3', parseWhere('part=bolt')), { part: 'bolt', line: 3 });
  assert.deepEqual(parseWhere('ok:=true'), { ok: true });
  assert.deepEqual(parseWhere('note=a=b'), { note: 'a=b' });
  assert.throws(() => parseWhere('part'), /key=value/);
  assert.throws(() => parseWhere('x:=[1]'), /string, number or boolean/);
  assert.throws(() => parseWhere('x:={'), /not JSON/);
  assert.equal(percent(0.9166), '91.7%');
});
