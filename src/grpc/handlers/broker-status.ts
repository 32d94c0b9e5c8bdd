/**
 * BrokerStatus (issue 15): the broker's health and resource alarms, as the composition root
 * reports them (the same figures as GET /health on the HTTP listener).
 */
import { create } from '@bufbuild/protobuf';
import type { BrokerStatusReport } from '../../core/index.js';
import { type BrokerStatusResponse, BrokerStatusResponseSchema } from '../../gen/switchyard/v1/broker_pb.js';

/** Used when the front end was built without a status source (tests of the front end alone). */
export const NO_STATUS = (): BrokerStatusReport => ({
  healthy: true,
  problems: [],
  alarms: [],
  memory: undefined,
});

export function brokerStatus(status: () => BrokerStatusReport): BrokerStatusResponse {
  const s = status();
  return create(BrokerStatusResponseSchema, {
    healthy: s.healthy,
    problems: [...s.problems],
    alarms: [...s.alarms],
    ...(s.memory === undefined
      ? {}
      : {
          memory: {
            residentBytes: BigInt(s.memory.rss),
            highWatermarkBytes: BigInt(s.memory.highWatermark),
            limitBytes: BigInt(s.memory.limit),
            limitSource: s.memory.limitSource,
          },
        }),
  });
}
