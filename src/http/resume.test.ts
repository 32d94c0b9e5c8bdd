import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Message } from '../core/index.js';
import { ResumeRecords, type WrittenEvent } from './resume.js';

const ev = (id: string, key: WrittenEvent['key'], tag = 0): WrittenEvent => ({ id, tag, key });

test('resume: the events up to Last-Event-ID in write order, whatever the id order', () => {
  const r = new ResumeRecords(1000);
  const transient = new Message('', 'q', Buffer.alloc(0), {});
  r.record('o', [ev('9', 9), ev('4', 4), ev('3.1', transient), ev('12', 12)], 0);
  assert.equal(r.take('other', '4', 0), undefined);
  assert.deepEqual(r.take('o', '3.1', 10), new Set([9, 4, transient]));
  assert.equal(r.take('o', '3.1', 10), undefined, 'a record is used once');
});

test('resume: the newest record that holds the id wins; expired records are not used', () => {
  const r = new ResumeRecords(100);
  r.record('o', [ev('1', 1), ev('2', 2)], 0);
  r.record('o', [ev('2', 2), ev('3', 3)], 50);
  assert.deepEqual(r.take('o', '2', 60), new Set([2]));
  assert.equal(r.take('o', '2', 200), undefined, 'the older one expired');
  r.record('o', [ev('5', 5)], 0);
  r.sweep(1000);
  assert.equal(r.size, 0);
});
