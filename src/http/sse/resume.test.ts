import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../../test/support/manual-clock.js';
import { Message } from '../../core/index.js';
import { ResumeRecords, type WrittenEvent } from './resume.js';

const ev = (id: string, key: WrittenEvent['key'], tag = 0): WrittenEvent => ({ id, tag, key });

test('resume: the events up to Last-Event-ID in write order, whatever the id order', () => {
  const clock = new ManualClock();
  const r = new ResumeRecords(clock, 1000);
  const transient = new Message('', 'q', Buffer.alloc(0), {});
  r.record('o', [ev('9', 9), ev('4', 4), ev('3.1', transient), ev('12', 12)]);
  assert.equal(r.take('other', '4'), undefined);
  clock.advance(10);
  assert.deepEqual(r.take('o', '3.1'), new Set([9, 4, transient]));
  assert.equal(r.take('o', '3.1'), undefined, 'a record is used once');
});

test('resume: the newest record that holds the id wins; expired records are not used', () => {
  const clock = new ManualClock();
  const r = new ResumeRecords(clock, 100);
  r.record('o', [ev('1', 1), ev('2', 2)]);
  clock.advance(50);
  r.record('o', [ev('2', 2), ev('3', 3)]);
  clock.advance(10);
  assert.deepEqual(r.take('o', '2'), new Set([2]));
  clock.advance(140);
  assert.equal(r.take('o', '2'), undefined, 'the older one expired');
  r.record('o', [ev('5', 5)]);
  clock.advance(101);
  r.sweep();
  assert.equal(r.size, 0);
});

test('resume: a record is good for exactly its time to live', () => {
  const clock = new ManualClock();
  const r = new ResumeRecords(clock, 100);
  r.record('o', [ev('1', 1)]);
  r.record('p', [ev('1', 1)]);
  clock.advance(100);
  assert.deepEqual(r.take('o', '1'), new Set([1]), 'at the TTL it is still there');
  clock.advance(1);
  assert.equal(r.take('p', '1'), undefined, 'one ms later it is not');
});
