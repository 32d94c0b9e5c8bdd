/**
 * A native call's deadline is kept on the broker's clock: on a ManualClock it ends exactly when
 * the clock reaches its grpc-timeout, whatever the wall clock says.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { ManualClock } from '../../../test/support/manual-clock.js';
import { Broker } from '../../core/index.js';
import { Broker as BrokerService } from '../../gen/switchyard/v1/broker_pb.js';
import { GrpcFrontEnd } from '../index.js';

const clock = new ManualClock();
const broker = new Broker({ clock });
const fe = new GrpcFrontEnd(broker, { anonymous: 'always', webAnonymous: 'never', maxMessageSize: 1 << 20 });
const listening = await fe.listen('127.0.0.1', 0);
after(async () => {
  await fe.close();
  await listening.close();
});
const client = createClient(
  BrokerService,
  createGrpcTransport({ baseUrl: `http://127.0.0.1:${listening.address.port}` }),
);

test('native call: a Subscribe ends DEADLINE_EXCEEDED when the broker clock reaches its grpc-timeout', async () => {
  await client.declareQueue({ name: 'q' });
  // The client keeps no deadline of its own (no timeoutMs): only the broker's clock can end it.
  const it = client
    .subscribe(
      { source: { case: 'queue', value: 'q' }, autoAck: true },
      { headers: { 'grpc-timeout': '60S' } },
    )
    [Symbol.asyncIterator]();
  assert.equal((await it.next()).value?.event.case, 'started');
  assert.equal(fe.stats().connections, 1);
  clock.advance(59_999);
  const end = it.next();
  let settled = false;
  void end.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(settled, false, 'still open 1 ms before its deadline');
  clock.advance(1);
  const bound = new Promise((_, reject) =>
    setTimeout(() => reject(new Error('no end within 5 s')), 5000).unref(),
  );
  await assert.rejects(
    Promise.race([end, bound]),
    (e: unknown) => ConnectError.from(e).code === Code.DeadlineExceeded,
  );
  assert.equal((await client.inspectQueue({ name: 'q' })).consumerCount, 0, 'its consumer went with it');
});
