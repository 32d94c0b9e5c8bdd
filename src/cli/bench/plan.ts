/**
 * What a run will measure, in order, with an estimate of each step's time: the progress line's
 * ETA and the overall time bound are computed from it before anything starts.
 */
import { ADAPTERS } from './adapters.js';
import {
  type BenchOptions,
  isRpc,
  type MessagingProtocol,
  type ProtocolId,
  type Scenario,
  type TargetUrls,
} from './options.js';

export interface Step {
  readonly scenario: Scenario;
  readonly protocol: ProtocolId;
  readonly size: number;
  readonly persistent: boolean;
  /** Measured seconds of the step's main phase. */
  readonly durationS: number;
  /** Expected wall time, set-up and wire phase included. */
  readonly estimateS: number;
  readonly label: string;
}

/** Connection kinds: the idle scenario measures one protocol of each. */
const kindOf = (p: MessagingProtocol) =>
  p.startsWith('mqtt') ? 'mqtt' : p.startsWith('grpc') ? 'grpc' : p.startsWith('ws') ? 'ws' : p;

export interface Planned {
  readonly steps: Step[];
  /** Why some protocols or scenarios will not run. */
  readonly notes: string[];
}

/** `rpcMissing`: why the RPC servers are not there (null when they are). */
export function planRun(o: BenchOptions, endpoints: TargetUrls, rpcMissing: string | null): Planned {
  const notes: string[] = [];
  const want = (s: Scenario) => o.scenarios.includes(s);
  const messaging = o.protocols.filter((p): p is MessagingProtocol => !isRpc(p));
  const reachable = messaging.filter((p) => {
    const ok = endpoints[ADAPTERS[p].listener] !== undefined;
    if (!ok) notes.push(`${p}: skipped, no ${ADAPTERS[p].listener}:// target`);
    return ok;
  });
  const d = o.durationS;
  // Set-up, warm-up, drain and the wire phase: measured on a quiet 2-core machine.
  const overhead = o.quick ? 0.2 : 0.8;
  const steps: Step[] = [];
  const [first, ...others] = o.sizes as [number, ...number[]];
  const step = (s: Omit<Step, 'label'>, extra = ''): Step => ({
    ...s,
    label: `${s.scenario} ${s.protocol}${s.scenario === 'idle' || s.scenario === 'rpc' ? '' : ` ${s.size} B`}${s.persistent ? ' persistent' : ''}${extra}`,
  });
  if (want('idle')) {
    const seen = new Set<string>();
    for (const p of reachable) {
      const kind = kindOf(p);
      if (seen.has(kind)) continue;
      seen.add(kind);
      // Local handshakes take about 2 ms each, 32 at a time.
      const open = Math.max(0.3, o.idle / 400);
      steps.push(
        step(
          {
            scenario: 'idle',
            protocol: p,
            size: 0,
            persistent: false,
            durationS: open,
            estimateS: open + (o.quick ? 1.2 : 2),
          },
          ` x${o.idle}`,
        ),
      );
    }
  }
  if (want('throughput')) {
    for (const p of reachable) {
      steps.push(
        step({
          scenario: 'throughput',
          protocol: p,
          size: first,
          persistent: false,
          durationS: d,
          estimateS: d + overhead,
        }),
      );
      if (o.persistent && ADAPTERS[p].persistable)
        steps.push(
          step({
            scenario: 'throughput',
            protocol: p,
            size: first,
            persistent: true,
            durationS: d,
            estimateS: d + overhead,
          }),
        );
    }
    // Other sizes at half the time: the shape over sizes, not a second full matrix.
    for (const size of others)
      for (const p of reachable)
        steps.push(
          step({
            scenario: 'throughput',
            protocol: p,
            size,
            persistent: false,
            durationS: d / 2,
            estimateS: d / 2 + overhead,
          }),
        );
  }
  if (want('latency'))
    for (const p of reachable)
      steps.push(
        step(
          {
            scenario: 'latency',
            protocol: p,
            size: first,
            persistent: false,
            durationS: d,
            estimateS: d + overhead / 2,
          },
          ` @${o.rate}/s`,
        ),
      );
  if (want('fanout'))
    for (const p of reachable)
      steps.push(
        step(
          {
            scenario: 'fanout',
            protocol: p,
            size: first,
            persistent: false,
            durationS: d,
            estimateS: d + overhead,
          },
          ` 1->${o.fanout}`,
        ),
      );
  if (want('rpc')) {
    const rpc = o.protocols.filter(isRpc);
    if (rpc.length > 0 && rpcMissing !== null) notes.push(`rpc: skipped, ${rpcMissing}`);
    else
      for (const p of rpc)
        steps.push(
          step({
            scenario: 'rpc',
            protocol: p,
            size: 0,
            persistent: false,
            durationS: d,
            estimateS: d + overhead,
          }),
        );
  }
  return { steps, notes };
}
