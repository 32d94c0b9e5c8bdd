import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { configSchema } from '../../config/schema.js';
import { type Answers, answersSchema } from './answers.js';
import { clientSnippet, configYaml, type ServedOption } from './snippets.js';

const SERVED: readonly ServedOption[] = ['grpc', 'amqp', 'mqtt', 'websocket', 'sse'];

test('advise snippets: every config is valid against the configuration schema (property)', () => {
  const arb = fc.record({
    iot: fc.boolean(),
    browser: fc.boolean(),
    rpc: fc.boolean(),
    guarantee: fc.constantFrom('at-most-once', 'at-least-once', 'exactly-once'),
  });
  fc.assert(
    fc.property(fc.constantFrom(...SERVED), arb, (option, partial) => {
      const answers: Answers = answersSchema.parse(partial);
      const config = configSchema.parse(parseYaml(configYaml(option, answers)));
      const ports = {
        amqp: config.amqp.port,
        mqtt: config.mqtt.port,
        http: config.http.port,
        grpc: config.grpc.port,
      };
      const own = { grpc: 'grpc', amqp: 'amqp', mqtt: 'mqtt', websocket: 'http', sse: 'http' }[
        option
      ] as keyof typeof ports;
      assert.notEqual(ports[own], 'off', `${option} needs its listener`);
      if (answers.browser) assert.equal(ports.http, 8080);
      if (option === 'mqtt' && answers.iot) assert.equal(config.mqtt.anonymous, 'never');
    }),
  );
});

test('advise snippets: each client snippet uses its client and the answered guarantee', () => {
  const a = answersSchema.parse({ guarantee: 'exactly-once' });
  assert.match(clientSnippet('amqp', a).code, /createConfirmChannel/);
  assert.match(clientSnippet('mqtt', a).code, /qos: 2/);
  assert.match(clientSnippet('grpc', a).code, /createGrpcTransport/);
  assert.match(clientSnippet('grpc', answersSchema.parse({ browser: true })).code, /createGrpcWebTransport/);
  assert.match(clientSnippet('websocket', a).code, /switchyard\.v1/);
  assert.match(clientSnippet('sse', a).code, /EventSource/);
  for (const o of SERVED) assert.ok(clientSnippet(o, a).code.endsWith('\n'));
});
