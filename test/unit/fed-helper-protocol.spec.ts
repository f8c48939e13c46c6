// The helper protocol's wire checks (src/fed/helper-protocol.ts): requests and a partial's signed
// terms are refused, with a reason, when malformed or past their bounds.
import { expect, test } from '@playwright/test';
import { MAX_PARTIAL_CONTRIBUTORS } from '../../src/fed';
import { parseHelperRequest, parsePartialTerms } from '../../src/fed/helper-protocol';
import { utf8 } from '../../src/swarm';

const json = (v: unknown) => utf8(JSON.stringify(v));
const hash = (c: string) => c.repeat(64);
const terms = (contributors: unknown[], extra: Record<string, unknown> = {}) => ({
  kind: 'vgpu/partial',
  round: 3,
  weights: hash('a'),
  body: hash('b'),
  contributors,
  ...extra,
});
const contributor = (k: number) => ({ peer: `peer${k}`, update: hash('c'), bytes: 100 });

test('helper requests: each type parsed, anything else refused with its reason', () => {
  expect(parseHelperRequest(json({ type: 'hello', url: 'https://h.example:8090' }))).toEqual({
    type: 'hello',
    url: 'https://h.example:8090',
  });
  expect(parseHelperRequest(json({ type: 'join', peer: 'p', address: '10.0.0.1' }))).toEqual({
    type: 'join',
    peer: 'p',
    address: '10.0.0.1',
  });
  expect(parseHelperRequest(json({ type: 'left', peer: 'p' }))).toEqual({ type: 'left', peer: 'p' });
  expect(parseHelperRequest(json({ type: 'receipts', peer: 'p', since: 2 }))).toEqual({
    type: 'receipts',
    peer: 'p',
    since: 2,
  });
  expect(() => parseHelperRequest(json({ type: 'hello', url: 'javascript:alert(1)' }))).toThrow(/http\(s\) URL/);
  expect(() => parseHelperRequest(json({ type: 'join', peer: 'x'.repeat(200) }))).toThrow(/peer id/);
  expect(() => parseHelperRequest(json({ type: 'join', peer: 'p', address: 'x'.repeat(100) }))).toThrow(/short/);
  expect(() => parseHelperRequest(json({ type: 'receipts', peer: 'p', since: -1 }))).toThrow(/non-negative/);
  expect(() => parseHelperRequest(json({ type: 'partial', bytes: 2 ** 40 }))).toThrow(/bytes must be/);
  expect(() => parseHelperRequest(json({ type: 'update' }))).toThrow(/unknown type update/);
  expect(() => parseHelperRequest(utf8('{'))).toThrow();
});

test("a partial's terms: bounded, every contributor well formed and listed once", () => {
  expect(parsePartialTerms(terms([contributor(1), contributor(2)])).contributors).toHaveLength(2);
  expect(() => parsePartialTerms(terms([]))).toThrow(/1 to 1024 contributors/);
  const many = Array.from({ length: MAX_PARTIAL_CONTRIBUTORS + 1 }, (_, k) => contributor(k));
  expect(() => parsePartialTerms(terms(many))).toThrow(/1 to 1024 contributors/);
  expect(() => parsePartialTerms(terms([contributor(1), contributor(1)]))).toThrow(/listed twice/);
  expect(() => parsePartialTerms(terms([{ peer: 'p', update: 'nothex', bytes: 1 }]))).toThrow(/sha256/);
  expect(() => parsePartialTerms(terms([{ peer: 'p', update: hash('c'), bytes: -1 }]))).toThrow(/bytes/);
  expect(() => parsePartialTerms(terms([contributor(1)], { kind: 'vgpu/round' }))).toThrow(/not a vgpu\/partial/);
  expect(() => parsePartialTerms(terms([contributor(1)], { body: 'x' }))).toThrow(/sha256 hex/);
  expect(() => parsePartialTerms(terms([contributor(1)], { round: 1.5 }))).toThrow(/round/);
});
