// Started parts stop in reverse order, every one of them even when an earlier stop fails.
import { expect, test } from '@playwright/test';
import { startedParts } from '../../src/util/parts';

test('parts stop newest first; a failing stop does not keep the others running; stopping twice stops once', async () => {
  const stopped: string[] = [];
  const parts = startedParts();
  const part = (name: string, fail = false) =>
    parts.add({
      stop: async () => {
        stopped.push(name);
        if (fail) throw new Error(`${name} would not stop`);
      },
    });
  part('node');
  part('pieces', true);
  const coordinator = parts.add({ stop: () => void stopped.push('coordinator') });
  part('http', true);
  expect(typeof coordinator.stop).toBe('function'); // add returns the part itself
  await expect(parts.stop()).rejects.toThrow('http would not stop'); // the first failure
  expect(stopped).toEqual(['http', 'coordinator', 'pieces', 'node']);
  await parts.stop();
  expect(stopped).toHaveLength(4);
});
