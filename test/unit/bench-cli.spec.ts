// The benchmarks' shared case choice (bench/lib/cli.ts): --cases as named, else the defaults; an
// unknown name refused with the known ones listed.
import { expect, test } from '@playwright/test';
import { chooseCases } from '../../bench/lib/cli';

const KNOWN = { a: 1, b: 2, c: 3 };

test('chooseCases: the named cases, else the defaults (all known ones unless given); an unknown name throws', () => {
  expect(chooseCases('x', undefined, KNOWN)).toEqual(['a', 'b', 'c']);
  expect(chooseCases('x', undefined, KNOWN, ['b'])).toEqual(['b']);
  expect(chooseCases('x', ['c', 'a'], KNOWN, ['b'])).toEqual(['c', 'a']);
  expect(() => chooseCases('load', ['a', 'zz'], KNOWN)).toThrow('unknown load case zz; known: a, b, c');
});
